// main.tsx - the page: who is signed in, the navigation, and which page a
// path shows. Every page talks to the public API (api.ts); the server checks
// every role, the page only hides what it would refuse.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get, onSignedOut, request, setCsrf, type Session, type User } from "./api";
import { Link, match, useLocation } from "./router";
import { SignIn, FirstPassword } from "./pages/SignIn";
import { Devices } from "./pages/Devices";
import { NewCapture } from "./pages/NewCapture";
import { CaptureView } from "./pages/Capture";
import { History } from "./pages/History";
import { Users } from "./pages/Users";
import { Audit } from "./pages/Audit";
import { Account } from "./pages/Account";

export interface Me extends User {
  viewerDownloads: boolean;
}

function canDownload(me: Me): boolean {
  return me.role !== "viewer" || me.viewerDownloads;
}

function Shell(props: { me: Me; signOut: () => void }) {
  const { path, query } = useLocation();
  const me = props.me;
  const nav: [string, string, boolean][] = [
    ["/devices", "Devices", true],
    ["/captures/new", "New capture", me.role !== "viewer"],
    ["/captures", "Captures", true],
    ["/users", "Users", me.role === "owner"],
    ["/audit", "Audit log", me.role === "owner"],
  ];
  let page;
  let m;
  if (path === "/" || path === "/devices") page = <Devices me={me} />;
  else if (path === "/captures/new") page = <NewCapture me={me} from={query.get("from")} devices={query.getAll("device")} />;
  else if (path === "/captures") page = <History me={me} canDownload={canDownload(me)} />;
  else if ((m = match("/captures/:id", path))) page = <CaptureView id={m.id} me={me} canDownload={canDownload(me)} />;
  else if (path === "/users") page = <Users me={me} />;
  else if (path === "/audit") page = <Audit />;
  else if (path === "/account") page = <Account me={me} />;
  else page = <p class="alert">No page at {path}.</p>;
  const current = (href: string) =>
    href === "/captures"
      ? path === "/captures" || /^\/captures\/\d+$/.test(path)
      : path === href || (href === "/devices" && path === "/");
  return (
    <div class="shell">
      <header class="top">
        <Link href="/devices" class="brand">
          edgecap
        </Link>
        <nav aria-label="Main">
          {nav
            .filter(([, , shown]) => shown)
            .map(([href, label]) => (
              <Link key={href} href={href} aria-current={current(href) ? "page" : undefined}>
                {label}
              </Link>
            ))}
        </nav>
        <div class="who">
          <Link href="/account" aria-current={path === "/account" ? "page" : undefined}>
            {me.email ?? me.name}
          </Link>
          <span class="muted">
            {me.organization} · {me.role}
          </span>
          <button type="button" class="quiet small" onClick={props.signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">{page}</main>
    </div>
  );
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);

  const load = async () => {
    try {
      const s = await get<Session>("/api/v1/session");
      if (s.csrf) setCsrf(s.csrf);
      let viewerDownloads = false;
      if (!s.user.password_change) {
        const org = await get<{ viewer_downloads: boolean }>("/api/v1/organization");
        viewerDownloads = org.viewer_downloads;
      }
      setMe({ ...s.user, viewerDownloads });
    } catch {
      setMe(null);
    }
  };
  useEffect(() => {
    load();
    return onSignedOut(() => setMe(null));
  }, []);

  const signOut = async () => {
    try {
      await request("DELETE", "/api/v1/session");
    } finally {
      setCsrf("");
      setMe(null);
    }
  };

  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <SignIn onSignedIn={load} />;
  if (me.password_change) return <FirstPassword me={me} onDone={load} signOut={signOut} />;
  return <Shell me={me} signOut={signOut} />;
}

render(<App />, document.getElementById("app")!);
