// The shell: navigation, theme, and the page the address names.
import type { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";

import { CandystoreClient } from "./api/candystore";
import { GatewayClient } from "./api/gateway";
import { OperationsClient } from "./api/operations";
import { VisibilityClient } from "./api/visibility";
import { KeyControl } from "./components/key-dialog";
import { Link } from "./components/link";
import { onRowKey } from "./components/row-keys";
import { Empty } from "./components/states";
import type { Config } from "./config";
import { streamProtocols } from "./lib/api-key";
import { LiveConnection } from "./live-connection";
import { ConflictPage } from "./pages/conflict";
import { ConflictsPage } from "./pages/conflicts";
import { ConsumersPage } from "./pages/consumers";
import { DeadLetterPage } from "./pages/dead-letter";
import { DeadLettersPage } from "./pages/dead-letters";
import { EventPage } from "./pages/event";
import { EventsPage } from "./pages/events";
import { HealthPage } from "./pages/health";
import { PatternsPage } from "./pages/patterns";
import { ReplayPage } from "./pages/replay";
import { SchemasPage } from "./pages/schemas";
import { TracePage } from "./pages/trace";
import { currentAddress, parseRoute, type Route } from "./router";
import { applyTheme, loadTheme, nextTheme } from "./theme";

const NAV = [
  { href: "/events", label: "Events", pages: ["events", "event", "trace"] },
  { href: "/conflicts", label: "Conflicts", pages: ["conflicts", "conflict"] },
  { href: "/patterns", label: "Patterns", pages: ["patterns"] },
  { href: "/dead-letters", label: "Dead letters", pages: ["dead-letters", "dead-letter"] },
  { href: "/consumers", label: "Consumers", pages: ["consumers"] },
  { href: "/replay", label: "Replay", pages: ["replay"] },
  { href: "/schemas", label: "Schemas", pages: ["schemas"] },
  { href: "/health", label: "Health", pages: ["health"] },
];

/** Stored events the events page shows live on opening, before the stream brings new ones. */
const RECENT_EVENTS = 100;

/** The route of the address; an old address of a page is replaced by its current one first. */
function readLocation(): Route {
  const { pathname, search } = window.location;
  const current = currentAddress(pathname, search);
  if (current !== null) window.history.replaceState(window.history.state, "", current);
  return parseRoute(window.location.pathname, window.location.search);
}

function useRoute(): Route {
  const [route, setRoute] = useState(readLocation);
  useEffect(() => {
    const update = (): void => setRoute(readLocation());
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return route;
}

const TITLES: Record<Route["page"], string> = {
  events: "Events",
  event: "Event",
  trace: "Trace",
  "dead-letters": "Dead letters",
  "dead-letter": "Dead letter",
  conflicts: "Conflicts",
  conflict: "Conflict",
  schemas: "Schemas",
  health: "Health",
  consumers: "Consumers",
  replay: "Replay",
  patterns: "Patterns",
  "not-found": "Not found",
};

export function App(props: { config: Config }): JSX.Element {
  const route = useRoute();
  const [theme, setTheme] = useState(loadTheme);
  const candystore = useMemo(() => new CandystoreClient(props.config.apis.candystore), [props.config]);
  const gateway = useMemo(() => new GatewayClient(props.config.apis.gateway), [props.config]);
  const visibility = useMemo(() => new VisibilityClient(props.config.apis.visibility), [props.config]);
  const operations = useMemo(() => new OperationsClient(props.config.apis.candystore), [props.config]);
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
    case "events":
      page = <EventsPage connection={connection} candystore={candystore} query={route.query} gatewayUrl={props.config.apis.gateway} />;
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
    case "consumers":
      page = <ConsumersPage operations={operations} />;
      break;
    case "replay":
      page = <ReplayPage operations={operations} replayId={route.id} />;
      break;
    case "patterns":
      page = <PatternsPage candystore={candystore} range={route.range} />;
      break;
    case "not-found":
      page = (
        <Empty title="No such page">
          <p>
            Nothing lives at <code>{route.path}</code>. Go to the <Link href="/events">events</Link>.
          </p>
        </Empty>
      );
      break;
  }
  return (
    <div class="shell">
      <header class="top">
        <Link href="/events" class="brand">
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
      <main onKeyDown={onRowKey}>{page}</main>
    </div>
  );
}
