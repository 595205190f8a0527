/* rotate.h - the capture files of `edgecap capture -w` as tcpdump 4.99 makes
 * them with -G (every N seconds, names through strftime), -C (a new file once
 * the current one is past N million bytes: file, file1, file2 ...), -W (with
 * -C a ring of N files, numbered with zero padding; with -G alone, stop after
 * N files) and -z (a command run on each file once it is closed). */
#ifndef ECAP_ROTATE_H
#define ECAP_ROTATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define ROTATE_MAX_CHILDREN 64 /* -z commands running at once; more wait */

struct rotate {
	const char *pattern; /* -w's name */
	unsigned g_seconds;  /* -G; 0: none */
	uint64_t c_bytes;    /* -C in bytes; 0: none */
	unsigned w_files;    /* -W; 0: none */
	const char *z_cmd;   /* -z; NULL: none */
	unsigned w_chars;    /* digits of -W's file numbers */
	time_t g_time;	     /* when the current -G period began */
	unsigned g_count;    /* files -G closed */
	unsigned c_count;    /* the current file's number in the -C sequence */
	int limit;	     /* -W with -G reached: the capture ended there */
	int fd;		     /* the file being written, -1 once closed */
	char current[4096];  /* its name */
	char next[4096];     /* the one the next rotation opens */
	pid_t child[ROTATE_MAX_CHILDREN];
	unsigned nchild;
};

/* Check the flags together and open the first file. The fd, or -1 after one
 * line on stderr. */
int rotate_open(struct rotate *r);
/* ecap_stream_rotate_fn: what the next record needs (ECAP_ROTATE_*). */
int rotate_due(void *ctx, uint64_t file_bytes);
/* ecap_stream_next_file_fn: close old_fd, run -z on it, open the next. */
int rotate_next(void *ctx, int old_fd);
/* The capture has ended: close the last file; -z runs on it only when -W
 * ended the capture, as tcpdump's. Children still running are left to
 * finish. */
void rotate_close(struct rotate *r);

#endif
