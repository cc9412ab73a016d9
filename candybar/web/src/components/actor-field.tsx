// "Acting as": the name an action is recorded under; with an API key, the key's client, not to be typed.
import type { JSX } from "preact";

import { actorIsKeyClient, saveActor } from "../lib/actor";

export function ActorField(props: { value: string; onInput: (value: string) => void; class?: string }): JSX.Element {
  if (actorIsKeyClient()) {
    return (
      <span class={`${props.class ?? ""} actor-from-key`} title="With an API key, the platform records the key's client as who acts">
        Acting as the key's client
      </span>
    );
  }
  return (
    <label class={props.class}>
      Acting as{" "}
      <input
        name="actor"
        value={props.value}
        onInput={(event) => {
          const value = (event.currentTarget as HTMLInputElement).value;
          props.onInput(value);
          saveActor(value);
        }}
      />
    </label>
  );
}
