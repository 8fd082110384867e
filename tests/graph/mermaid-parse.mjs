// Parse a Mermaid diagram from stdin with Mermaid's own parser, headless (jsdom gives it the
// DOM it expects); print the diagram type it recognised, or fail with its error.
// Installed by scripts/graph-tools.sh; run by tests/graph.rs.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH ?? ".", "x.js"));
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMPurify = undefined;

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const text = Buffer.concat(chunks).toString("utf8");

const mermaidPath = require.resolve("mermaid");
const { default: mermaid } = await import(mermaidPath.replace(/mermaid\.core\.mjs$|mermaid\.js$/, "mermaid.core.mjs"));
mermaid.initialize({ startOnLoad: false });
try {
  const result = await mermaid.parse(text);
  console.log(result.diagramType);
} catch (e) {
  console.error(String(e && e.message ? e.message : e));
  process.exit(2);
}
