// TunnelSettings.tsx - owners: the tunnel's settings for every device of the
// organization, and a device's own over them (docs/tunnel.md, "Settings
// from the server"). A field left blank is not set here: the organization's
// (for a device) or the device's own configuration file's applies. The
// server checks each value and names the one it refuses.
import { useState } from "preact/hooks";
import { patch } from "../api";
import type { Device, TunnelSettingsSet } from "../api";
import { Alert, useAction } from "../ui/ui";

export const SETTINGS: { key: keyof TunnelSettingsSet; label: string; min: number; max: number; step: number }[] = [
  { key: "hello_interval_ms", label: "UDP probe interval", min: 1000, max: 60000, step: 1 },
  { key: "udp_wait_ms", label: "Wait before HTTP", min: 100, max: 900000, step: 1 },
  { key: "coalesce_ms", label: "Coalescing delay", min: 10, max: 50, step: 1 },
  { key: "hold_ms", label: "Poll hold", min: 1000, max: 25000, step: 1000 },
];

// The form's text fields into a merge patch: a number sets, blank unsets.
function patchOf(text: Record<string, string>): Record<string, number | null> {
  const p: Record<string, number | null> = {};
  for (const s of SETTINGS) {
    const t = (text[s.key] ?? "").trim();
    p[s.key] = t === "" ? null : Number(t);
  }
  return p;
}

function textOf(set: TunnelSettingsSet | undefined): Record<string, string> {
  const t: Record<string, string> = {};
  for (const s of SETTINGS) t[s.key] = set?.[s.key] != null ? String(set[s.key]) : "";
  return t;
}

function Fields(props: { text: Record<string, string>; set: (t: Record<string, string>) => void; placeholder: (k: keyof TunnelSettingsSet) => string; idPrefix: string }) {
  return (
    <div class="settings-fields">
      {SETTINGS.map((s) => (
        <label key={s.key}>
          {s.label} (ms)
          <input type="number" inputMode="numeric" min={s.min} max={s.max} step={s.step} name={s.key}
            id={`${props.idPrefix}-${s.key}`} value={props.text[s.key]} placeholder={props.placeholder(s.key)}
            onInput={(e) => props.set({ ...props.text, [s.key]: e.currentTarget.value })} />
        </label>
      ))}
    </div>
  );
}

// The organization's, on the owners' page.
export function OrgTunnelSettings(props: { settings: TunnelSettingsSet; onSaved: (o: { settings: TunnelSettingsSet }) => void }) {
  const [text, setText] = useState(textOf(props.settings));
  const act = useAction();
  const save = (e: Event) => {
    e.preventDefault();
    act.run(async () => props.onSaved(await patch<{ settings: TunnelSettingsSet }>("/api/v1/organization", { settings: patchOf(text) })));
  };
  return (
    <form class="card" onSubmit={save} aria-label="Tunnel settings">
      <h2>Tunnel settings for every device</h2>
      <p class="hint">Blank: each device runs by its own configuration. Devices take a change within seconds while online.</p>
      <Fields text={text} set={setText} placeholder={() => "device's own"} idPrefix="org" />
      <Alert error={act.error} />
      <button type="submit" disabled={act.busy}>Save</button>
    </form>
  );
}

// One device's own, with what it runs by; under its row on the devices page.
export function DeviceTunnelSettings(props: { device: Device; onClose: () => void }) {
  const d = props.device;
  const s = d.settings;
  const [text, setText] = useState(textOf(s?.own));
  const act = useAction();
  const save = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      await patch(`/api/v1/devices/${encodeURIComponent(d.name)}`, { settings: patchOf(text) });
    });
  };
  const inForce = (k: keyof TunnelSettingsSet) => {
    const v = s?.reported?.[k];
    return v == null ? "—" : k === "hold_ms" && v === 0 ? "the server's" : String(v);
  };
  return (
    <form class="card" onSubmit={save} aria-label={`Tunnel settings of ${d.name}`}>
      <h2>Tunnel settings of {d.name}</h2>
      <p class="hint">Blank: the organization's setting, else the device's own configuration.</p>
      <Fields text={text} set={setText} idPrefix={`dev-${d.name}`}
        placeholder={(k) => (s?.wanted?.[k] != null && s?.own?.[k] == null ? `organization: ${s.wanted[k]}` : "")} />
      <table class="list compact" aria-label={`Settings in force on ${d.name}`}>
        <thead><tr><th>Setting</th><th>To run by</th><th>In force</th></tr></thead>
        <tbody>
          {SETTINGS.map((x) => (
            <tr key={x.key}><td>{x.label}</td><td>{s?.wanted?.[x.key] ?? "its own"}</td><td>{inForce(x.key)}</td></tr>
          ))}
        </tbody>
      </table>
      <p data-field="settings-state" role="status">
        {s?.applied ? "Applied: the device runs by these." : s?.reported ? "Not applied yet: the device is told at once while online." : "The device has not said what it runs by (not through the tunnel, or not heard from yet)."}
      </p>
      <Alert error={act.error} />
      <div class="row">
        <button type="submit" disabled={act.busy}>Save</button>
        <button type="button" class="quiet" onClick={props.onClose}>Close</button>
      </div>
    </form>
  );
}
