// Start: read where the APIs are, then render the app (or say clearly why it cannot start).
import { render } from "preact";

import { App } from "./app";
import { loadConfig } from "./config";
import { applyTheme, loadTheme } from "./theme";
import "./styles.css";

const root = document.getElementById("app") as HTMLElement;
applyTheme(loadTheme());

loadConfig().then(
  (config) => render(<App config={config} />, root),
  (error: Error) => {
    const box = document.createElement("div");
    box.className = "state failure";
    const title = document.createElement("h2");
    title.textContent = "Candybar cannot start";
    const detail = document.createElement("p");
    detail.textContent = `${error.message}. The server that serves this page answers /config.json; is it candybar serve or 33god up?`;
    box.append(title, detail);
    root.replaceChildren(box);
  },
);
