// The shell: navigation, theme, and the page the address names.
import type { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";

import { CandystoreClient } from "./api/candystore";
import { GatewayClient } from "./api/gateway";
import { VisibilityClient } from "./api/visibility";
import { KeyControl } from "./components/key-dialog";
import { Link } from "./components/link";
import { Empty } from "./components/states";
import type { Config } from "./config";
import { streamProtocols } from "./lib/api-key";
import { LiveConnection } from "./live-connection";
import { ConflictPage } from "./pages/conflict";
import { ConflictsPage } from "./pages/conflicts";
import { DeadLetterPage } from "./pages/dead-letter";
import { DeadLettersPage } from "./pages/dead-letters";
import { EventPage } from "./pages/event";
import { HealthPage } from "./pages/health";
import { LivePage } from "./pages/live";
import { SchemasPage } from "./pages/schemas";
import { TracePage } from "./pages/trace";
import { parseRoute, type Route } from "./router";
import { applyTheme, loadTheme, nextTheme } from "./theme";

const NAV = [
  { href: "/live", label: "Live", pages: ["live", "event", "trace"] },
  { href: "/conflicts", label: "Conflicts", pages: ["conflicts", "conflict"] },
  { href: "/dead-letters", label: "Dead letters", pages: ["dead-letters", "dead-letter"] },
  { href: "/schemas", label: "Schemas", pages: ["schemas"] },
  { href: "/health", label: "Health", pages: ["health"] },
];

/** Stored events the live page shows on opening, before the stream brings new ones. */
const RECENT_EVENTS = 100;

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname, window.location.search));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(window.location.pathname, window.location.search));
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return route;
}

const TITLES: Record<Route["page"], string> = {
  live: "Live",
  event: "Event",
  trace: "Trace",
  "dead-letters": "Dead letters",
  "dead-letter": "Dead letter",
  conflicts: "Conflicts",
  conflict: "Conflict",
  schemas: "Schemas",
  health: "Health",
  "not-found": "Not found",
};

export function App(props: { config: Config }): JSX.Element {
  const route = useRoute();
  const [theme, setTheme] = useState(loadTheme);
  const candystore = useMemo(() => new CandystoreClient(props.config.apis.candystore), [props.config]);
  const gateway = useMemo(() => new GatewayClient(props.config.apis.gateway), [props.config]);
  const visibility = useMemo(() => new VisibilityClient(props.config.apis.visibility), [props.config]);
  const connection = useMemo(
    () =>
      new LiveConnection(
        candystore.streamUrl(),
        async () => (await candystore.events({ order: "desc", limit: RECENT_EVENTS })).items,
        () => streamProtocols(),
      ),
    [candystore],
  );
  useEffect(() => applyTheme(theme), [theme]);
  useEffect(() => {
    document.title = `${TITLES[route.page]} · Candybar`;
  }, [route.page]);

  let page: JSX.Element;
  switch (route.page) {
    case "live":
      page = <LivePage connection={connection} filters={route.filters} gatewayUrl={props.config.apis.gateway} />;
      break;
    case "event":
      page = <EventPage id={route.id} candystore={candystore} />;
      break;
    case "trace":
      page = <TracePage id={route.id} candystore={candystore} />;
      break;
    case "dead-letters":
      page = <DeadLettersPage candystore={candystore} query={route.query} />;
      break;
    case "dead-letter":
      page = <DeadLetterPage id={route.id} candystore={candystore} />;
      break;
    case "conflicts":
      page = <ConflictsPage visibility={visibility} query={route.query} />;
      break;
    case "conflict":
      page = <ConflictPage id={route.id} visibility={visibility} />;
      break;
    case "schemas":
      page = <SchemasPage gateway={gateway} eventType={route.eventType} />;
      break;
    case "health":
      page = <HealthPage config={props.config} candystore={candystore} />;
      break;
    case "not-found":
      page = (
        <Empty title="No such page">
          <p>
            Nothing lives at <code>{route.path}</code>. Go to the <Link href="/live">live stream</Link>.
          </p>
        </Empty>
      );
      break;
  }
  return (
    <div class="shell">
      <header class="top">
        <Link href="/live" class="brand">
          Candybar
        </Link>
        <nav aria-label="Pages">
          {NAV.map((item) => (
            <Link key={item.href} href={item.href} class={item.pages.includes(route.page) ? "active" : ""}>
              {item.label}
            </Link>
          ))}
        </nav>
        <KeyControl />
        <button type="button" class="theme" onClick={() => setTheme(nextTheme(theme))} title="Switch between system, dark and light">
          Theme: {theme}
        </button>
      </header>
      <main>{page}</main>
    </div>
  );
}
