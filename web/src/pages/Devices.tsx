// Devices.tsx - the organization's gateways: whether each is reachable, how,
// and since when; search; enrol and set its tunnel settings (owners); start a
// capture on a selection.
import { useEffect, useMemo, useState } from "preact/hooks";
import { applySeen, patch, post, type Device, type DeviceSeen } from "../api";
import { follow } from "../live";
import { ago, hooks, when } from "../format";
import { navigate } from "../router";
import { Alert, Empty, Secret, useAction, RemoveButton } from "../ui/ui";
import type { Me } from "../main";
import { DeviceTunnelSettings } from "./TunnelSettings";

const CLOCK_MS = 5000; // "last seen" and online/offline move with time too

// The devices, live: the events stream sends the list at once and on every
// change but a report's, the changed devices' last seen and state on each
// report, and resumes by itself (with the whole list) after a dropped
// connection.
export function useDevices(): { data: Device[] | null; error: string | null } {
  const [data, setData] = useState<Device[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [, tick] = useState(0);
  useEffect(() => {
    const f = follow("/api/v1/events/devices", {
      devices: (d: Device[]) => { setData(d); setError(null); },
      seen: (s: DeviceSeen[]) => setData((d) => (d ? applySeen(d, s) : d)),
    }, (s, err) => setError(err ?? (s === "retrying" ? "reconnecting…" : null)));
    const t = setInterval(() => tick((n) => n + 1), CLOCK_MS);
    return () => {
      f.close();
      clearInterval(t);
    };
  }, []);
  return { data, error };
}

// A gateway that reaches this server through the tunnel joins by claim: its
// agent announces itself and prints its serial and claim code; nothing is
// carried to it. One the server reaches directly is enrolled by its address.
function Claim(props: { onDone: () => void }) {
  const [serial, setSerial] = useState("");
  const [code, setCode] = useState("");
  const [name, setName] = useState("");
  const [made, setMade] = useState<Device | null>(null);
  const act = useAction();

  const submit = async (e: Event) => {
    e.preventDefault();
    const body: Record<string, string> = { serial: serial.trim(), code: code.trim() };
    if (name.trim()) body.name = name.trim();
    await act.run(async () => setMade(await post<Device>("/api/v1/devices/claim", body)));
  };
  if (made)
    return (
      <div class="card">
        <h2>Claimed {made.name}</h2>
        <p>Serial {made.serial}. It comes online here as soon as its agent asks again (within a few seconds); nothing is left to do on the device.</p>
        <button type="button" onClick={() => { setMade(null); props.onDone(); }}>Done</button>
      </div>
    );
  return (
    <form class="card inline-form" onSubmit={submit} aria-label="Claim a device">
      <h2>Claim a device</h2>
      <p class="hint">On the gateway, set <code>tunnel = {location.origin}</code> in <code>/etc/edgecap/agent.conf</code> and start the agent: it prints its serial and claim code (also <code>edgecap-agent identity</code>).</p>
      <label>
        Serial
        <input required value={serial} onInput={(e) => setSerial(e.currentTarget.value)} placeholder="EC-XXXX-XXXX-XXXX" />
      </label>
      <label>
        Claim code
        <input required value={code} onInput={(e) => setCode(e.currentTarget.value)} placeholder="XXXX-XXXX-XXXX-XXXX" autocomplete="off" />
      </label>
      <label>
        Name (optional)
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="its host name" />
      </label>
      <Alert error={act.error} />
      <button type="submit" disabled={act.busy}>Claim</button>
    </form>
  );
}

function Enrol(props: { onDone: () => void }) {
  const [name, setName] = useState("");
  const [serial, setSerial] = useState("");
  const [address, setAddress] = useState("");
  const [made, setMade] = useState<Device | null>(null);
  const act = useAction();

  const submit = async (e: Event) => {
    e.preventDefault();
    await act.run(async () => setMade(await post<Device>("/api/v1/devices", { name, serial, address })));
  };
  if (made)
    return (
      <div class="card">
        <h2>Enrolled {made.name}</h2>
        {made.secret && <Secret label="The device's secret." value={made.secret} onDone={() => { setMade(null); props.onDone(); }} />}
        <h3>Steps that remain on {made.name}</h3>
        <ol>
          <li>Write the secret into <code>/etc/edgecap/secret</code> on the device (mode 0600): the agent's <code>secret_file</code>.</li>
          <li>Start the agent there, listening where this server reaches it ({made.address}): <code>systemctl start edgecap-agent</code>.</li>
          <li>It shows as online here once the server hears from it.</li>
        </ol>
      </div>
    );
  return (
    <form class="card inline-form" onSubmit={submit} aria-label="Enrol a device by its address">
      <h2>Enrol a device by its address</h2>
      <p class="hint">For a gateway this server reaches directly; one behind NAT joins by claim.</p>
      <label>
        Name
        <input required value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="gw-berlin-1" />
      </label>
      <label>
        Serial
        <input required value={serial} onInput={(e) => setSerial(e.currentTarget.value)} />
      </label>
      <label>
        Address
        <input required value={address} onInput={(e) => setAddress(e.currentTarget.value)} placeholder="https://host:port" />
      </label>
      <Alert error={act.error} />
      <button type="submit" disabled={act.busy}>Enrol</button>
    </form>
  );
}

export function Devices(props: { me: Me }) {
  const { data, error } = useDevices();
  const [q, setQ] = useState("");
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [enrolling, setEnrolling] = useState(false);
  const [tuning, setTuning] = useState<string | null>(null);
  const act = useAction();
  const owner = props.me.role === "owner";

  const shown = useMemo(() => {
    const s = q.trim().toLowerCase();
    return (data ?? []).filter(
      (d) => !s || [d.name, d.serial, d.address, d.transport, d.mgmt_address ?? ""].some((v) => v.toLowerCase().includes(s)),
    );
  }, [data, q]);
  const toggle = (name: string) => {
    const n = new Set(picked);
    if (n.has(name)) n.delete(name);
    else n.add(name);
    setPicked(n);
  };
  const allShown = shown.length > 0 && shown.every((d) => picked.has(d.name));
  const pickAll = () => {
    const n = new Set(picked);
    shown.forEach((d) => (allShown ? n.delete(d.name) : n.add(d.name)));
    setPicked(n);
  };
  const capture = () => {
    const p = new URLSearchParams();
    [...picked].forEach((d) => p.append("device", d));
    navigate(`/captures/new?${p}`);
  };

  return (
    <section aria-labelledby="devices-title">
      <div class="title-row">
        <h1 id="devices-title">Devices</h1>
        <div class="row">
          {props.me.role !== "viewer" && (
            <button type="button" disabled={!picked.size} onClick={capture}>
              Capture on {picked.size || ""} selected
            </button>
          )}
          {owner && (
            <button type="button" class="quiet" onClick={() => setEnrolling(!enrolling)} aria-expanded={enrolling}>
              Add a device
            </button>
          )}
        </div>
      </div>
      {enrolling && (
        <>
          <Claim onDone={() => setEnrolling(false)} />
          <Enrol onDone={() => setEnrolling(false)} />
        </>
      )}
      <label class="search">
        Search devices
        <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="name, serial, address" />
      </label>
      <Alert error={error || act.error} />
      {data && !data.length && <Empty>No devices yet.{owner ? " Add one above." : ""}</Empty>}
      {owner && tuning && data?.find((d) => d.name === tuning) && (
        <DeviceTunnelSettings key={tuning} device={data.find((d) => d.name === tuning)!} onClose={() => setTuning(null)} />
      )}
      {shown.length > 0 && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th>
                  <input type="checkbox" aria-label="Select all shown" checked={allShown} onChange={pickAll} />
                </th>
                <th>Name</th>
                <th>Serial</th>
                <th>State</th>
                <th>Last seen</th>
                <th>Transport</th>
                <th>Agent</th>
                <th>Kernel</th>
                <th>Interfaces</th>
                <th>Address</th>
                <th>Management address</th>
                {owner && <th>Actions</th>}
              </tr>
            </thead>
            <tbody>
              {shown.map((d) => {
                const state = d.state;
                return (
                  <tr key={d.name}>
                    <td>
                      <input type="checkbox" aria-label={`Select ${d.name}`} checked={picked.has(d.name)} onChange={() => toggle(d.name)} />
                    </td>
                    <td>{d.name}</td>
                    <td class="mono">{d.serial}</td>
                    <td>
                      <span class={`badge ${state.replace(" ", "-")}`}
                        title={[d.offline_since && `offline since ${when(d.offline_since)}`, d.report_error].filter(Boolean).join(": ")}>
                        {state}
                      </span>
                    </td>
                    <td title={when(d.last_seen)}>{ago(d.last_seen)}</td>
                    <td>{d.transport}</td>
                    <td title={d.reported_at ? `reported ${when(d.reported_at)}` : undefined}>{d.agent?.replace(/^edgecap-agent /, "") ?? "—"}</td>
                    <td class="mono">{d.kernel ?? "—"}</td>
                    <td class="mono">{hooks(d.interfaces) || "—"}</td>
                    <td class="mono">{d.address || "—"}</td>
                    <td class="mono">{d.mgmt_address ?? "—"}</td>
                    {owner && (
                      <td class="actions">
                        <button type="button" class="small quiet"
                          onClick={() => act.run(async () => { await patch(`/api/v1/devices/${encodeURIComponent(d.name)}`, { enabled: !d.enabled }); })}>
                          {d.enabled ? "Disable" : "Enable"}
                        </button>
                        <button type="button" class="small quiet" aria-expanded={tuning === d.name}
                          onClick={() => setTuning(tuning === d.name ? null : d.name)}>
                          Settings
                        </button>
                        <RemoveButton label="Remove" path={`/api/v1/devices/${encodeURIComponent(d.name)}`}
                          question={`Remove ${d.name}? Its captures stay.`} act={act} />
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
