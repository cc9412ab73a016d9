// A button that copies text to the clipboard and says so.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

export function CopyButton(props: { text: string; label?: string }): JSX.Element {
  const [done, setDone] = useState<"idle" | "copied" | "failed">("idle");
  const copy = (): void => {
    navigator.clipboard.writeText(props.text).then(
      () => setDone("copied"),
      () => setDone("failed"),
    );
    window.setTimeout(() => setDone("idle"), 1500);
  };
  const label = props.label ?? "Copy";
  return (
    <button type="button" class="copy" onClick={copy} title={`${label} to the clipboard`}>
      {done === "copied" ? "Copied" : done === "failed" ? "Copy failed" : label}
    </button>
  );
}
