// consentry: the guard. Loaded synchronously, first in <head>, from
// /.consentry/guard.js?v=RULES&g=GRANTED, so it runs before any other script of the
// page. The proxy already made the trackers in the HTML inert; this file holds the
// line for what page scripts do afterwards:
//   - document.cookie and cookieStore.set refuse cookie names the visitor has not
//     granted (the same rules as Set-Cookie; deletions always pass);
//   - tracker scripts, frames and images inserted later do not load;
//   - Google Consent Mode v2 defaults are set before any tag reads them.
// The granted categories travel in this file's URL (g, a hexadecimal bit set), so the
// file never parses a consent cookie and stays cacheable. No inline script anywhere:
// a `script-src 'self'` policy keeps working.
(function () {
  "use strict";
  var R = /*CONSENTRY_RULES*/ null;
  if (!R || window.__consentryGuard) { return; }
  window.__consentryGuard = true;

  // --- Which categories the visitor granted -------------------------------------
  var me = document.currentScript;
  var bits = "0";
  try {
    bits = (new URL(me.src, location.href).searchParams.get("g") || "0").toLowerCase();
    if (!/^[0-9a-f]{1,16}$/.test(bits)) { bits = "0"; }
  } catch (e) { bits = "0"; }
  // Required categories are granted whatever the URL says. `g` is the granted set
  // as hexadecimal digits, bit N for category N (no 32-bit limit).
  function granted(cat) {
    if (cat === null || cat === undefined || cat < 0) { return false; }
    if (R.required.indexOf(cat) >= 0) { return true; }
    var digit = bits.charAt(bits.length - 1 - Math.floor(cat / 4));
    return digit !== "" && ((parseInt(digit, 16) >> (cat % 4)) & 1) === 1;
  }

  // --- Globs ---------------------------------------------------------------------
  function glob(pattern) {
    var escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[\\s\\S]*");
    return new RegExp("^" + escaped + "$");
  }

  // --- Cookies -------------------------------------------------------------------
  var cookieRules = R.cookies.map(function (r) {
    return { test: r[0].indexOf("*") >= 0 ? glob(r[0]) : null, name: r[0], cat: r[1] };
  });
  function cookieCategory(name) {
    if (name === "") { return -1; }
    if (R.preferences.indexOf(name) >= 0) { return R.necessary; }
    for (var i = 0; i < cookieRules.length; i++) {
      var r = cookieRules[i];
      if (r.test ? r.test.test(name) : r.name === name) { return r.cat; }
    }
    return R.unclassified === "allow" ? -2 : -1;
  }
  function cookieAllowed(name) {
    var cat = cookieCategory(name);
    return cat === -2 || granted(cat);
  }
  // RFC 6265 §5.2: the name is the text before the first `=`, trimmed; a line with
  // no `=` has an empty name (unclassified).
  function nameOf(line) {
    var eq = line.indexOf("=");
    var semi = line.indexOf(";");
    if (eq < 0 || (semi >= 0 && semi < eq)) { return ""; }
    return line.slice(0, eq).replace(/^[ \t]+|[ \t]+$/g, "");
  }
  function isDeletion(line) {
    var attrs = line.split(";").slice(1);
    for (var i = 0; i < attrs.length; i++) {
      var kv = attrs[i].split("=");
      var k = kv[0].replace(/^\s+|\s+$/g, "").toLowerCase();
      var v = (kv.slice(1).join("=") || "").replace(/^\s+|\s+$/g, "");
      if (k === "max-age" && /^-?\d+$/.test(v) && parseInt(v, 10) <= 0) { return true; }
      if (k === "expires") {
        var t = Date.parse(v);
        if (!isNaN(t) && t <= Date.now()) { return true; }
      }
    }
    return false;
  }
  function refuse(what, name) {
    try { console.info("consentry: refused " + what + " " + JSON.stringify(name)); } catch (e) { /* none */ }
  }

  var proto = Document.prototype;
  var desc = Object.getOwnPropertyDescriptor(proto, "cookie");
  if (desc && desc.set && desc.configurable) {
    Object.defineProperty(document, "cookie", {
      configurable: true,
      enumerable: true,
      get: function () { return desc.get.call(document); },
      set: function (value) {
        var line = String(value); // coerced once: a toString() cannot change its answer
        var name = nameOf(line);
        if (isDeletion(line) || cookieAllowed(name)) {
          desc.set.call(document, line);
        } else {
          refuse("cookie", name);
        }
      }
    });
  }
  if (window.cookieStore && window.CookieStore && CookieStore.prototype.set) {
    var originalSet = CookieStore.prototype.set;
    CookieStore.prototype.set = function (nameOrOptions, value) {
      var options = (nameOrOptions && typeof nameOrOptions === "object") ? nameOrOptions : null;
      var name = String(options ? options.name : nameOrOptions);
      var expires = options && options.expires;
      var deletion = expires !== undefined && expires !== null && Number(expires) <= Date.now();
      if (deletion || cookieAllowed(name)) {
        return originalSet.apply(this, arguments);
      }
      refuse("cookie", name);
      return Promise.resolve();
    };
  }

  // --- Trackers ------------------------------------------------------------------
  var trackers = R.trackers.map(function (t) {
    return {
      cat: t.c,
      urls: t.u.map(function (u) {
        var slash = u.indexOf("/");
        var host = (slash < 0 ? u : u.slice(0, slash)).toLowerCase().replace(/:[0-9*]+$/, "");
        var path = slash < 0 ? null : u.slice(slash);
        return {
          host: host.indexOf("*") >= 0 ? glob(host) : host,
          path: path && path !== "/*" ? glob(path) : null
        };
      }),
      inline: t.i
    };
  });
  function hostMatches(pattern, host) {
    if (typeof pattern !== "string") { return pattern.test(host); }
    return host === pattern || host.slice(-pattern.length - 1) === "." + pattern;
  }
  // The tracker a URL loads, refused by the visitor's consent: its category, or
  // null when the URL is no refused tracker.
  function refusedUrl(raw) {
    if (raw === null || raw === undefined) { return null; }
    var url;
    try { url = new URL(String(raw), document.baseURI); } catch (e) { return null; }
    if (url.protocol !== "http:" && url.protocol !== "https:") { return null; }
    var host = url.hostname.toLowerCase().replace(/\.$/, "");
    for (var i = 0; i < trackers.length; i++) {
      var t = trackers[i];
      for (var j = 0; j < t.urls.length; j++) {
        var u = t.urls[j];
        if (hostMatches(u.host, host) && (!u.path || u.path.test(url.pathname))) {
          return granted(t.cat) ? null : String(t.cat);
        }
      }
    }
    return null;
  }
  function refusedText(text) {
    text = String(text || "");
    for (var i = 0; i < trackers.length; i++) {
      var t = trackers[i];
      for (var j = 0; j < t.inline.length; j++) {
        if (text.indexOf(t.inline[j]) >= 0) { return granted(t.cat) ? null : String(t.cat); }
      }
    }
    return null;
  }
  function refusedSrcset(value) {
    var parts = String(value || "").split(",");
    for (var i = 0; i < parts.length; i++) {
      var cat = refusedUrl(parts[i].replace(/^\s+/, "").split(/\s+/)[0]);
      if (cat !== null) { return cat; }
    }
    return null;
  }

  // The URL-bearing properties of the elements that load things.
  var loaders = [
    [window.HTMLScriptElement, "src"],
    [window.HTMLIFrameElement, "src"],
    [window.HTMLImageElement, "src"],
    [window.HTMLImageElement, "srcset"],
    [window.HTMLSourceElement, "src"],
    [window.HTMLSourceElement, "srcset"],
    [window.HTMLEmbedElement, "src"],
    [window.HTMLObjectElement, "data"],
    [window.HTMLLinkElement, "href"]
  ];
  function neutralise(el, attr, value, cat) {
    nativeSetAttribute.call(el, "data-consentry-category", R.categories[cat] || "unknown");
    nativeSetAttribute.call(el, "data-consentry-" + (attr === "srcset" ? "srcset" : "src"), String(value));
    if (el instanceof HTMLScriptElement) {
      if (!el.hasAttribute("data-consentry-type") && el.hasAttribute("type")) {
        nativeSetAttribute.call(el, "data-consentry-type", el.getAttribute("type"));
      }
      nativeSetAttribute.call(el, "type", "text/plain");
    }
    refuse("tracker", String(value));
  }
  function checkUrl(el, attr, value) {
    if (el instanceof HTMLLinkElement && attr === "href" && !/(^|\s)(preconnect|dns-prefetch|preload|prefetch|modulepreload|stylesheet)(\s|$)/i.test(el.rel || "")) {
      return null;
    }
    return attr === "srcset" ? refusedSrcset(value) : refusedUrl(value);
  }
  var nativeSetAttribute = Element.prototype.setAttribute;
  loaders.forEach(function (pair) {
    var ctor = pair[0], attr = pair[1];
    if (!ctor) { return; }
    var d = Object.getOwnPropertyDescriptor(ctor.prototype, attr);
    if (!d || !d.set || !d.configurable) { return; }
    Object.defineProperty(ctor.prototype, attr, {
      configurable: true,
      enumerable: d.enumerable,
      get: d.get,
      set: function (value) {
        var cat = checkUrl(this, attr, value);
        if (cat !== null) { neutralise(this, attr, value, cat); return; }
        d.set.call(this, value);
      }
    });
  });
  var urlAttributes = { src: 1, srcset: 1, data: 1, href: 1 };
  Element.prototype.setAttribute = function (name, value) {
    var lower = String(name).toLowerCase();
    if (urlAttributes[lower] === 1) {
      var ok = false;
      for (var i = 0; i < loaders.length; i++) {
        if (loaders[i][0] && this instanceof loaders[i][0] && loaders[i][1] === lower) { ok = true; }
      }
      if (ok) {
        var cat = checkUrl(this, lower, value);
        if (cat !== null) { neutralise(this, lower, value, cat); return; }
      }
    }
    if (lower === "ping") {
      var pings = String(value).split(/\s+/).filter(function (u) { return u && refusedUrl(u) === null; });
      return nativeSetAttribute.call(this, name, pings.join(" "));
    }
    return nativeSetAttribute.call(this, name, value);
  };

  // Scripts and frames inserted into the document: their URL (set before the guard
  // saw it, through innerHTML or a parser) and an inline script's text.
  function inspect(node) {
    if (!node || node.nodeType !== 1) {
      if (node && node.nodeType === 11) { // a DocumentFragment: each element in it
        var kids = node.querySelectorAll("script,iframe,img,embed,object,source,link");
        for (var k = 0; k < kids.length; k++) { inspect(kids[k]); }
      }
      return;
    }
    if (node instanceof HTMLScriptElement) {
      var type = (node.getAttribute("type") || "").toLowerCase();
      if (type === "text/plain") { return; }
      var cat = node.hasAttribute("src") ? refusedUrl(node.getAttribute("src")) : refusedText(node.text);
      if (cat !== null) {
        if (node.hasAttribute("src")) {
          nativeSetAttribute.call(node, "data-consentry-src", node.getAttribute("src"));
          node.removeAttribute("src");
        }
        if (node.hasAttribute("type")) { nativeSetAttribute.call(node, "data-consentry-type", node.getAttribute("type")); }
        nativeSetAttribute.call(node, "type", "text/plain");
        nativeSetAttribute.call(node, "data-consentry-category", R.categories[cat] || "unknown");
        refuse("tracker", node.getAttribute("data-consentry-src") || "inline script");
      }
      return;
    }
    var attrs = ["src", "srcset", "data"];
    for (var a = 0; a < attrs.length; a++) {
      if (node.hasAttribute && node.hasAttribute(attrs[a])) {
        var value = node.getAttribute(attrs[a]);
        var c = attrs[a] === "srcset" ? refusedSrcset(value) : refusedUrl(value);
        if (c !== null) {
          node.removeAttribute(attrs[a]);
          neutralise(node, attrs[a], value, c);
        }
      }
    }
    if (node.querySelectorAll && node.firstElementChild) {
      var inner = node.querySelectorAll("script,iframe,img,embed,object,source");
      for (var n = 0; n < inner.length; n++) { inspect(inner[n]); }
    }
  }
  function wrapInsert(proto, method) {
    var original = proto && proto[method];
    if (!original) { return; }
    proto[method] = function () {
      for (var i = 0; i < arguments.length; i++) { inspect(arguments[i]); }
      return original.apply(this, arguments);
    };
  }
  wrapInsert(Node.prototype, "appendChild");
  wrapInsert(Node.prototype, "insertBefore");
  wrapInsert(Node.prototype, "replaceChild");
  ["append", "prepend", "before", "after", "replaceWith"].forEach(function (m) {
    wrapInsert(Element.prototype, m);
  });
  wrapInsert(window.DocumentFragment && DocumentFragment.prototype, "append");

  // document.write of markup that loads a refused tracker: that markup is dropped.
  ["write", "writeln"].forEach(function (m) {
    var original = Document.prototype[m];
    Document.prototype[m] = function () {
      var html = Array.prototype.join.call(arguments, "");
      var tpl = document.createElement("template");
      tpl.innerHTML = html;
      var found = tpl.content.querySelectorAll("script,iframe,img,embed,object,source");
      for (var i = 0; i < found.length; i++) {
        var el = found[i];
        var cat = el.tagName === "SCRIPT" && !el.hasAttribute("src") ? refusedText(el.textContent)
          : refusedUrl(el.getAttribute("src") || el.getAttribute("data")) || refusedSrcset(el.getAttribute("srcset"));
        if (cat !== null) { refuse("tracker", "document." + m); return; }
      }
      return original.apply(this, arguments);
    };
  });

  // Hits sent without an element: beacons, fetch and XMLHttpRequest to a refused
  // tracker host never leave.
  if (navigator.sendBeacon) {
    var beacon = navigator.sendBeacon;
    navigator.sendBeacon = function (url) {
      if (refusedUrl(url) !== null) { refuse("beacon", String(url)); return true; }
      return beacon.apply(this, arguments);
    };
  }
  if (window.fetch) {
    var originalFetch = window.fetch;
    window.fetch = function (input) {
      var url = input && typeof input === "object" && "url" in input ? input.url : input;
      if (refusedUrl(url) !== null) {
        refuse("fetch", String(url));
        return Promise.reject(new TypeError("consentry: refused by the visitor's consent"));
      }
      return originalFetch.apply(this, arguments);
    };
  }
  if (window.XMLHttpRequest) {
    var open = XMLHttpRequest.prototype.open;
    var send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.open = function (method, url) {
      this.__consentryRefused = refusedUrl(url) !== null;
      return open.apply(this, arguments);
    };
    XMLHttpRequest.prototype.send = function () {
      if (this.__consentryRefused) { refuse("xhr", ""); return; }
      return send.apply(this, arguments);
    };
  }

  // --- Google Consent Mode v2 defaults --------------------------------------------
  window.dataLayer = window.dataLayer || [];
  function gtag() { window.dataLayer.push(arguments); }
  var defaults = {};
  Object.keys(R.consentMode).forEach(function (kind) {
    var v = R.consentMode[kind];
    defaults[kind] = v === "granted" ? "granted" : v === "denied" ? "denied" : (granted(v) ? "granted" : "denied");
  });
  gtag("consent", "default", defaults);
})();
