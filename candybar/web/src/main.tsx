// Start: read where the APIs are, then render the app (or say clearly why it cannot start).
import { render } from "preact";

import { Start } from "./start";
import { applyTheme, loadTheme } from "./theme";
import "./styles.css";

applyTheme(loadTheme());
render(<Start />, document.getElementById("app") as HTMLElement);
