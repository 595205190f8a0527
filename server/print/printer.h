/* printer.h - tcpdump's own printers, run as a child process that reads a
 * capture on its standard input (`tcpdump -r -`) and prints its lines.
 * tcpdump's printers are the reference every line is judged by, and they
 * parse hostile bytes, so the child is confined:
 *   - no network unless names are looked up: a seccomp filter fails every
 *     call that makes a socket (a network namespace of its own where this
 *     build knows no filter), and no privileges: root gives up root for
 *     tcpdump's own user before the exec (else tcpdump does, before it
 *     reads a byte), and no-new-privs keeps it that way;
 *   - bounded memory, CPU time, files and processes (setrlimit), no core;
 *   - no descriptor of ours but the three pipes; its own process group
 *     (a terminal's Ctrl-C stops the capture, which then lets the printer
 *     finish the lines of what it has), killed when we die. */
#ifndef SRV_PRINTER_H
#define SRV_PRINTER_H

#include <stddef.h>
#include <sys/types.h>

#define SRV_PRINTER_ARGS_MAX 32

enum {
	SRV_PRINTER_NO_NET = 1 << 0,	/* no socket */
	SRV_PRINTER_CLEAR_ENV = 1 << 1, /* an environment of PATH only (ours) */
	/* output in blocks of 256 KiB, not stdio's 4 KiB for a pipe: a tenth
	 * of the wake-ups for a reader of a file (input is always read in
	 * blocks of 256 KiB; both as coreutils' stdbuf sets them) */
	SRV_PRINTER_BLOCKS = 1 << 2,
};

/* Runs `tcpdump -r - ARGS...` with the given descriptors as its standard
 * input, output and error (err_fd -1: ours). The pid, or -1 with err set
 * (tcpdump is missing, or the confinement could not be set up). */
pid_t srv_printer_spawn(const char *const *args, unsigned flags, int in_fd, int out_fd, int err_fd,
			char *err, size_t errlen);

/* The first line tcpdump writes on its standard error when it reads a
 * file ("reading from file -, link-type ..."): its readers print their own. */
#define SRV_PRINTER_BANNER "reading from file -,"

#endif
