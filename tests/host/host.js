// A minimal MCP Apps host built on the official AppBridge (@modelcontextprotocol/ext-apps),
// wired as the ext-apps basic-host example wires it: the view in a sandboxed frame, the
// bridge on a PostMessageTransport bound to that frame, tool input and result sent after
// `initialized`, the frame's height set from `ui/notifications/size-changed`.
//
// The bridge has no MCP client of its own: its `oncalltool` hands the view's tool calls to
// `window.callTool`, which the test exposes (a Python MCP client of the real server).
// esbuild bundles this file into one script for the test page (tests/apps_host.py).
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const HOST_INFO = { name: "snapshot-mcp-test-host", version: "1" };

window.viewMessages = [];
window.sizes = [];

window.cardHost = {
  /** Show `html` as the view of a tool call whose input and result are given; resolves after `initialized`. */
  async show({ html, toolInput, toolResult, hostContext }) {
    const frame = document.createElement("iframe");
    frame.id = "view";
    frame.setAttribute("sandbox", "allow-scripts");
    document.getElementById("chat").append(frame);
    window.addEventListener("message", (event) => {
      if (event.source === frame.contentWindow) window.viewMessages.push(event.data);
    });
    window.cardHost.maxHeight = hostContext?.containerDimensions?.maxHeight;
    const bridge = new AppBridge(null, HOST_INFO, { serverTools: {} }, { hostContext });
    bridge.oncalltool = (params) => window.callTool(params.name, params.arguments ?? {});
    bridge.onsizechange = ({ width, height }) => {
      window.sizes.push({ width, height });
      if (height !== undefined) frame.style.height = `${height}px`;
    };
    const initialized = new Promise((resolve) => {
      bridge.oninitialized = () => resolve();
    });
    await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
    frame.srcdoc = html;
    await initialized;
    window.bridge = bridge;
    await bridge.sendToolInput({ arguments: toolInput });
    await bridge.sendToolResult(toolResult);
  },
  /** What the view declared in `ui/initialize`, as the bridge accepted it. */
  appCapabilities: () => window.bridge.getAppCapabilities(),
  setHostContext: (context) => window.bridge.setHostContext(context),
  teardown: () => window.bridge.teardownResource({ reason: "test" }),
  ping: () => window.bridge.request({ method: "ping", params: {} }),
};
