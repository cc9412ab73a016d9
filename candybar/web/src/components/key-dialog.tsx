// Asking for the API key a platform with keys requires, and forgetting it. A key is tried on
// /config.json before it is kept; once kept, the page loads again, so every client, page and the
// live stream start over with it.
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { onKeyNeeded, rateLimitedTitle } from "../api/access";
import { ApiError } from "../api/http";
import { loadConfig } from "../config";
import { forgetKey, storeKey, storedKey } from "../lib/api-key";
import { failureText } from "./states";

/** Why a key being tried was not taken, in the server's words. */
function refusal(error: unknown): string {
  const access = error instanceof ApiError ? error.access : null;
  if (access === null) return failureText(error);
  switch (access.kind) {
    case "unauthenticated":
      return `That key was refused: ${access.message}`;
    case "forbidden":
      return `That key is valid but may not read the platform: ${access.message}`;
    case "limited":
      return `${rateLimitedTitle(access.retryAfter)}: ${access.message}`;
  }
}

/**
 * The key prompt: a page of its own when Candybar cannot start without a key, else a modal dialog
 * over the page (with `onCancel`). `rejected` is the server's message about the key in use.
 */
export function KeyDialog(props: { rejected: string | null; onCancel?: () => void }): JSX.Element {
  const [value, setValue] = useState("");
  const [problem, setProblem] = useState<string | null>(props.rejected === null ? null : `The key in use was refused: ${props.rejected}`);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  useEffect(() => {
    if (props.rejected !== null) setProblem(`The key in use was refused: ${props.rejected}`);
  }, [props.rejected]);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const key = value.trim();
    if (key === "" || busy) return;
    setBusy(true);
    try {
      await loadConfig(key);
    } catch (error) {
      setProblem(refusal(error));
      setBusy(false);
      input.current?.select();
      return;
    }
    storeKey(key);
    window.location.reload();
  };

  const modal = props.onCancel !== undefined;
  return (
    <div
      class={modal ? "key-gate" : "key-page"}
      role="dialog"
      aria-modal={modal}
      aria-labelledby="key-dialog-title"
      onKeyDown={(event: KeyboardEvent) => event.key === "Escape" && props.onCancel?.()}
    >
      <form class="card key-dialog" onSubmit={(event) => void submit(event)}>
        <h2 id="key-dialog-title">This platform requires an API key</h2>
        <p class="muted">
          Its APIs answer only callers with a key. Ask whoever runs the platform for one (a client in <code>PLATFORM_KEYS_FILE</code> or{" "}
          <code>BLOODBANK_API_KEYS</code>). It is kept in this browser tab only, until the tab closes or you forget it.
        </p>
        {problem !== null ? (
          <p class="outcome error" role="alert">
            {problem}
          </p>
        ) : null}
        <label class="key-field">
          API key{" "}
          <input
            ref={input}
            type="password"
            name="api-key"
            autocomplete="off"
            spellcheck={false}
            value={value}
            onInput={(event) => setValue((event.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <div class="actions-bar">
          <button type="submit" class="primary" disabled={busy || value.trim() === ""}>
            {busy ? "Checking…" : "Use this key"}
          </button>
          {modal ? (
            <button type="button" onClick={props.onCancel}>
              Cancel
            </button>
          ) : null}
        </div>
      </form>
    </div>
  );
}

/** In the header while a key is in use: says so, and forgets it (the page loads again, without it). */
export function KeyControl(): JSX.Element | null {
  const [key, setKey] = useState(storedKey);
  useEffect(() => onKeyNeeded(() => setKey(storedKey())), []); // a refused key is forgotten
  if (key === null) return null;
  return (
    <span class="key-control">
      <span class="pill grey" title="Every call carries this tab's API key">
        API key in use
      </span>
      <button
        type="button"
        class="forget-key"
        onClick={() => {
          forgetKey();
          window.location.reload();
        }}
      >
        Forget key
      </button>
    </span>
  );
}
