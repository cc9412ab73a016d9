// One dead letter: the failure, the message as it was dead-lettered (body as text), replay or discard.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { CandystoreClient, DeadLetter } from "../api/candystore";
import { CopyButton } from "../components/copy";
import { JsonTree } from "../components/json-tree";
import { Link } from "../components/link";
import { Empty, Failure, Loading, failureText } from "../components/states";
import { actorToSend, loadActor } from "../lib/actor";
import { formatTimestamp } from "../lib/format";
import { isUuid } from "../lib/ids";
import { useAsync } from "../hooks";
import { routeHref } from "../router";
import { describeReplay } from "./dead-letters";

/** The body as JSON when it is JSON text, else null (then it is shown as text). */
export function bodyDocument(letter: Pick<DeadLetter, "body" | "body_encoding">): unknown {
  if (letter.body_encoding !== "utf-8") return null;
  try {
    return JSON.parse(letter.body) as unknown;
  } catch {
    return null;
  }
}

export function DeadLetterPage(props: { id: string; candystore: CandystoreClient }): JSX.Element {
  const { candystore, id } = props;
  const letter = useAsync(() => candystore.deadLetter(id), [id]);
  const [reason, setReason] = useState("");
  const [message, setMessage] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (work: () => Promise<string>): Promise<void> => {
    setBusy(true);
    try {
      setMessage({ kind: "ok", text: await work() });
    } catch (error) {
      setMessage({ kind: "error", text: failureText(error) });
    } finally {
      setBusy(false);
      letter.reload();
    }
  };
  if (letter.status === "loading") return <Loading what="the dead letter" />;
  if (letter.status === "error") {
    if ("notFound" in letter.error && letter.error.notFound) {
      return (
        <Empty title="No such dead letter">
          <p>
            Candystore keeps no dead letter <code>{id}</code>. See the <Link href="/dead-letters">dead letters</Link>.
          </p>
        </Empty>
      );
    }
    return <Failure error={letter.error} retry={letter.reload} what="the dead letter" />;
  }
  const item = letter.data;
  const document = bodyDocument(item);
  const replay = () =>
    act(async () => describeReplay(await candystore.replay({ ids: [item.id] }, actorToSend(loadActor())))?.text ?? "Replayed.");
  const discard = () =>
    act(async () => {
      await candystore.discard(item.id, reason.trim(), actorToSend(loadActor()));
      return "Discarded: kept for audit with your reason.";
    });
  return (
    <section class="page dead-letter">
      <div class="toolbar">
        <h1>Dead letter</h1>
        <span class={`pill ${item.state === "open" ? "amber" : item.state === "resolved" ? "green" : "grey"}`}>{item.state}</span>
        <Link href={routeHref({ page: "dead-letters", query: { state: "open", consumer: "", eventType: "", reason: "" } })}>All dead letters</Link>
      </div>
      {message ? (
        <p class={`outcome ${message.kind}`} role="status">
          {message.text}
        </p>
      ) : null}
      <div class="envelope">
        <div class="card wide">
          <h2>Why it failed</h2>
          <p class="reason-text">{item.error ?? "(no reason recorded)"}</p>
          <dl>
            <dt>consumer</dt>
            <dd>{item.consumer ?? "—"}</dd>
            <dt>attempts</dt>
            <dd>{item.attempts ?? "—"}</dd>
            <dt>failed at</dt>
            <dd>{formatTimestamp(item.failed_at)}</dd>
            <dt>received</dt>
            <dd>{formatTimestamp(item.received_at)}</dd>
            <dt>event type</dt>
            <dd>{item.event_type ?? "—"}</dd>
            <dt>event id</dt>
            <dd>{item.event_id ?? "—"}</dd>
            <dt>routing key</dt>
            <dd>{item.routing_key}</dd>
            {item.resolved_at ? (
              <>
                <dt>{item.state === "resolved" ? "replayed" : "discarded"}</dt>
                <dd>
                  {formatTimestamp(item.resolved_at)} by {item.resolved_by ?? "—"}
                  {item.resolution_note ? `: ${item.resolution_note}` : ""}
                </dd>
              </>
            ) : null}
            {item.replayed_event_id && isUuid(item.replayed_event_id) ? (
              <>
                <dt>replayed as</dt>
                <dd>
                  <Link href={routeHref({ page: "event", id: item.replayed_event_id })}>{item.replayed_event_id}</Link>
                </dd>
              </>
            ) : null}
          </dl>
        </div>
        {item.state === "open" ? (
          <div class="card">
            <h2>Act on it</h2>
            <p>
              <button type="button" class="primary" disabled={busy} onClick={replay}>
                Replay
              </button>
            </p>
            <form
              onSubmit={(event) => {
                event.preventDefault();
                if (reason.trim()) void discard();
              }}
            >
              <label>
                Discard because <input required value={reason} onInput={(event) => setReason((event.currentTarget as HTMLInputElement).value)} />
              </label>{" "}
              <button type="submit" class="danger" disabled={busy || !reason.trim()}>
                Discard
              </button>
            </form>
          </div>
        ) : null}
      </div>
      <div class="card">
        <h2>
          Message body <CopyButton text={item.body} label="Copy body" />
        </h2>
        {document !== null ? <JsonTree value={document} open={3} /> : <pre class="body">{item.body}</pre>}
        {item.body_encoding === "base64" ? <p class="muted">The body is not UTF-8 text: shown as base64.</p> : null}
      </div>
      <div class="card">
        <h2>Headers</h2>
        <JsonTree value={item.headers} open={1} />
      </div>
    </section>
  );
}
