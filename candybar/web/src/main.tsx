// Start: read where the APIs are, then render the app (or say clearly why it cannot start).
import { render } from "preact";

import { Start } from "./start";
import { applyTheme, loadTheme } from "./theme";
import "./styles.css";

applyTheme(loadTheme());
const root = document.getElementById("app") as HTMLElement;
// index.html shows a loading line until this script runs; Preact does not take over markup it did
// not render, so the line goes before the app mounts instead of staying beneath every page.
root.replaceChildren();
render(<Start />, root);
