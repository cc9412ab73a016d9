// An in-app link: a real <a href> (open in a new tab, copy the address) that navigates without a reload.
import type { ComponentChildren, JSX } from "preact";

import { navigate } from "../router";

export function Link(props: { href: string; class?: string; title?: string; children: ComponentChildren }): JSX.Element {
  const onClick = (event: MouseEvent): void => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(props.href);
  };
  return (
    <a href={props.href} class={props.class} title={props.title} onClick={onClick}>
      {props.children}
    </a>
  );
}
