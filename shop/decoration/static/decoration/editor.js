/* Page decoration editor (merchant console). Vanilla JS, no build step.
 *
 * Loads the block registry (types, field specs, defaults) and the page's draft from the
 * console API, lets the merchant add blocks from the palette, reorder them (HTML5 drag and
 * drop, or the up/down buttons), configure them through forms generated from the field
 * spec, remove them, save the draft (field errors shown next to the fields), publish, and
 * roll back to an earlier version. The preview iframe shows the saved draft.
 * Everything the user typed is put into the page with textContent / value, never innerHTML.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("deco-config").textContent);
  const S = config.strings;
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const $ = (id) => document.getElementById(id);

  const state = {
    types: {}, // type -> spec
    order: [], // palette order
    blocks: [],
    revision: 0, // the draft's revision this editor is based on
    selected: -1,
    errors: {}, // "blocks[2].config.limit" -> [messages]
    dirty: false,
    categories: null,
    dragFrom: -1,
  };

  // --- helpers ------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "value") node.value = value;
      else if (key === "checked") node.checked = !!value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, (_m, key) => (key in values ? values[key] : ""));
  }

  function clone(value) {
    return JSON.parse(JSON.stringify(value));
  }

  function newId() {
    return "b" + Math.random().toString(36).slice(2, 10);
  }

  async function api(method, url, body, isForm) {
    const headers = { "X-CSRFToken": csrf, Accept: "application/json" };
    if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
    });
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (_e) {
        data = null;
      }
    }
    return { ok: response.ok, status: response.status, data };
  }

  function status(message, kind) {
    const box = $("deco-status");
    box.hidden = !message;
    box.className = "banner " + (kind || "ok");
    box.textContent = message || "";
  }

  function markDirty() {
    state.dirty = true;
    status(S.unsaved, "warn");
  }

  // --- errors -------------------------------------------------------------------------
  function blockPrefix(i) {
    return "blocks[" + i + "]";
  }

  function errorsFor(path, withChildren) {
    const found = [];
    for (const [key, messages] of Object.entries(state.errors)) {
      if (key === path || (withChildren && key.startsWith(path + "."))) found.push(...messages);
    }
    return found;
  }

  function errorList(messages) {
    const list = el("ul", { class: "errors" });
    for (const message of messages) list.append(el("li", { text: message }));
    return list;
  }

  function blockHasErrors(i) {
    const prefix = blockPrefix(i);
    return Object.keys(state.errors).some((k) => k === prefix || k.startsWith(prefix + ".") || k.startsWith(prefix + "["));
  }

  function showGlobalErrors() {
    for (const holder of document.querySelectorAll("[data-error-for]")) {
      const key = holder.getAttribute("data-error-for");
      holder.replaceChildren(...(state.errors[key] || []).map((m) => el("li", { text: m })));
    }
  }

  // --- palette and block list ---------------------------------------------------------
  function renderPalette() {
    const palette = $("deco-palette");
    palette.replaceChildren(
      ...state.order.map((type) =>
        el("button", {
          type: "button",
          class: "secondary",
          "data-type": type,
          title: state.types[type].description,
          text: "+ " + state.types[type].label,
          onclick: () => addBlock(type),
        })
      )
    );
  }

  function summary(block) {
    const c = block.config || {};
    return c.title || c.text || c.placeholder || "";
  }

  function renderBlocks() {
    const list = $("deco-blocks");
    if (!state.blocks.length) {
      list.replaceChildren(el("li", { class: "hint", text: S.empty, draggable: "false" }));
      return;
    }
    list.replaceChildren(
      ...state.blocks.map((block, i) => {
        const spec = state.types[block.type];
        const item = el(
          "li",
          {
            draggable: "true",
            "data-index": i,
            "data-type": block.type,
            class: [i === state.selected ? "selected" : "", blockHasErrors(i) ? "invalid" : ""].join(" ").trim(),
          },
          el(
            "button",
            { type: "button", class: "name", onclick: () => select(i) },
            spec ? spec.label : block.type,
            el("small", { text: summary(block) })
          ),
          el("button", { type: "button", class: "icon", "aria-label": S.up, title: S.up, disabled: i === 0, onclick: () => move(i, i - 1), text: "↑" }),
          el("button", {
            type: "button",
            class: "icon",
            "aria-label": S.down,
            title: S.down,
            disabled: i === state.blocks.length - 1,
            onclick: () => move(i, i + 1),
            text: "↓",
          }),
          el("button", { type: "button", class: "icon", "aria-label": S.remove, title: S.remove, onclick: () => removeBlock(i), text: "✕" })
        );
        item.addEventListener("dragstart", (event) => {
          state.dragFrom = i;
          item.classList.add("dragging");
          event.dataTransfer.effectAllowed = "move";
          event.dataTransfer.setData("text/plain", String(i));
        });
        item.addEventListener("dragend", () => item.classList.remove("dragging"));
        item.addEventListener("dragover", (event) => {
          event.preventDefault();
          event.dataTransfer.dropEffect = "move";
          item.classList.add("over");
        });
        item.addEventListener("dragleave", () => item.classList.remove("over"));
        item.addEventListener("drop", (event) => {
          event.preventDefault();
          item.classList.remove("over");
          const from = state.dragFrom >= 0 ? state.dragFrom : parseInt(event.dataTransfer.getData("text/plain"), 10);
          state.dragFrom = -1;
          if (!Number.isNaN(from)) move(from, i);
        });
        return item;
      })
    );
  }

  function remapErrors(mapping) {
    // Errors stay with their block when blocks move: mapping[old index] = new index.
    const next = {};
    for (const [key, messages] of Object.entries(state.errors)) {
      const match = /^blocks\[(\d+)\](.*)$/.exec(key);
      if (!match) {
        next[key] = messages;
        continue;
      }
      const to = mapping[parseInt(match[1], 10)];
      if (to !== undefined && to !== null) next["blocks[" + to + "]" + match[2]] = messages;
    }
    state.errors = next;
  }

  function move(from, to) {
    if (to < 0 || to >= state.blocks.length || from === to) return;
    const order = state.blocks.map((_b, i) => i);
    const [moved] = order.splice(from, 1);
    order.splice(to, 0, moved);
    const mapping = {};
    order.forEach((old, now) => (mapping[old] = now));
    state.blocks = order.map((old) => state.blocks[old]);
    remapErrors(mapping);
    if (state.selected >= 0) state.selected = mapping[state.selected];
    markDirty();
    render();
  }

  function addBlock(type) {
    const spec = state.types[type];
    const at = state.selected >= 0 ? state.selected + 1 : state.blocks.length;
    const mapping = {};
    state.blocks.forEach((_b, i) => (mapping[i] = i < at ? i : i + 1));
    remapErrors(mapping);
    state.blocks.splice(at, 0, { id: newId(), type, config: clone(spec.defaults) });
    state.selected = at;
    markDirty();
    render();
  }

  function removeBlock(i) {
    if (!window.confirm(S.remove_confirm)) return;
    const mapping = {};
    state.blocks.forEach((_b, j) => (mapping[j] = j < i ? j : j === i ? null : j - 1));
    remapErrors(mapping);
    state.blocks.splice(i, 1);
    if (state.selected === i) state.selected = -1;
    else if (state.selected > i) state.selected -= 1;
    markDirty();
    render();
  }

  function select(i) {
    state.selected = i;
    render();
  }

  // --- the configuration form ---------------------------------------------------------
  function visible(field, values) {
    if (!field.show_if) return true;
    return Object.entries(field.show_if).every(([key, allowed]) => allowed.includes(values[key]));
  }

  async function loadCategories() {
    if (state.categories) return state.categories;
    const found = [];
    let url = config.categories;
    for (let n = 0; url && n < 20; n++) {
      const res = await api("GET", url);
      if (!res.ok) break;
      const rows = Array.isArray(res.data) ? res.data : res.data.results || [];
      found.push(...rows);
      url = Array.isArray(res.data) ? null : res.data.next;
    }
    state.categories = found;
    return found;
  }

  async function loadCoupons() {
    if (state.coupons) return state.coupons;
    const found = [];
    let url = config.coupons;
    for (let n = 0; url && n < 20; n++) {
      const res = await api("GET", url);
      if (!res.ok) break;
      const rows = Array.isArray(res.data) ? res.data : res.data.results || [];
      found.push(...rows);
      url = Array.isArray(res.data) ? null : res.data.next;
    }
    state.coupons = found;
    return found;
  }

  function couponPicker(value, set) {
    // The shop's coupons as checkboxes (in the order ticked); ended ones are marked.
    const holder = el("div", { class: "checks coupon-picker" }, "…");
    loadCoupons().then((coupons) => {
      const chosen = (value || []).filter((id) => coupons.some((c) => c.id === id));
      if (!coupons.length) {
        holder.replaceChildren(el("span", { class: "hint", text: S.no_coupons }));
        return;
      }
      holder.replaceChildren(
        ...coupons.map((c) =>
          el(
            "label",
            {},
            el("input", {
              type: "checkbox",
              value: c.id,
              "data-coupon": c.id,
              checked: chosen.includes(c.id),
              onchange: (e) => {
                const at = chosen.indexOf(c.id);
                if (e.target.checked && at < 0) chosen.push(c.id);
                if (!e.target.checked && at >= 0) chosen.splice(at, 1);
                set(chosen.slice());
              },
            }),
            c.name + " (#" + c.id + ")" + (c.ended_at ? " · " + S.coupon_ended : "")
          )
        )
      );
    });
    return holder;
  }

  function numberOrText(raw, kind) {
    if (raw === "") return null;
    const n = Number(raw);
    if (Number.isNaN(n)) return raw;
    return kind === "int" ? (Number.isInteger(n) ? n : raw) : n;
  }

  function parseIds(raw) {
    return raw
      .split(/[\s,，]+/)
      .filter(Boolean)
      .map((x) => (/^\d+$/.test(x) ? parseInt(x, 10) : x));
  }

  // Suggestions for page and category links (a <datalist> each, filled once).
  const choicesLoaded = {};
  async function ensureChoices(type) {
    if (choicesLoaded[type]) return;
    choicesLoaded[type] = true;
    const list = el("datalist", { id: "deco-" + type + "-choices" });
    document.body.append(list);
    if (type === "category") {
      const categories = await loadCategories();
      list.append(...categories.map((c) => el("option", { value: c.id, label: c.name })));
    } else {
      const res = await api("GET", config.pages);
      const pages = res.ok ? res.data : [];
      list.append(...pages.map((p) => el("option", { value: p.slug, label: p.title || p.slug })));
    }
  }

  function linkEditor(value, path, onChange) {
    const link = value && typeof value === "object" ? value : null;
    const kinds = ["", "product", "category", "page", "search", "url"];
    const select = el(
      "select",
      { "aria-label": S.link_none, "data-path": path + ".type" },
      kinds.map((k) => el("option", { value: k, selected: link && link.type === k ? true : !link && k === "" ? true : null, text: k ? S["link_" + k] : S.link_none }))
    );
    const key = (type) => ({ product: "id", category: "id", page: "slug", search: "q", url: "url" })[type];
    const input = el("input", { "data-path": path + ".value" });
    const sync = () => {
      const type = select.value;
      input.hidden = !type;
      if (type === "page" || type === "category") {
        input.setAttribute("list", "deco-" + type + "-choices");
        ensureChoices(type);
      } else input.removeAttribute("list");
      input.placeholder = type === "url" ? "https://… /…" : type === "page" ? "summer-sale" : type === "search" ? "…" : S.id;
      if (!type) return onChange(null);
      const raw = input.value.trim();
      const v = key(type) === "id" && /^\d+$/.test(raw) ? parseInt(raw, 10) : raw;
      onChange({ type, [key(type)]: v });
    };
    if (link) input.value = link[key(link.type)] === undefined ? "" : String(link[key(link.type)]);
    input.hidden = !link;
    if (link && (link.type === "page" || link.type === "category")) {
      input.setAttribute("list", "deco-" + link.type + "-choices");
      ensureChoices(link.type);
    }
    select.addEventListener("change", sync);
    input.addEventListener("input", sync);
    return el("div", { class: "row" }, select, input);
  }

  function productPicker(ids, onChange) {
    const text = el("input", { value: (ids || []).join(", "), "aria-describedby": "ids-hint" });
    text.addEventListener("input", () => onChange(parseIds(text.value)));
    const query = el("input", { placeholder: S.search_products, type: "search" });
    const results = el("div", { class: "results" });
    const search = async () => {
      const res = await api("GET", config.products + "?status=on_sale&q=" + encodeURIComponent(query.value.trim()));
      const rows = res.ok ? (Array.isArray(res.data) ? res.data : res.data.results || []) : [];
      results.replaceChildren(
        ...(rows.length ? rows.slice(0, 20).map((p) =>
          el("button", {
            type: "button",
            class: "secondary",
            "data-product": p.id,
            text: "+ " + p.name + " (#" + p.id + ")",
            onclick: () => {
              const current = parseIds(text.value);
              if (!current.includes(p.id)) current.push(p.id);
              text.value = current.join(", ");
              onChange(current);
            },
          })
        ) : [el("span", { class: "hint", text: S.no_results })])
      );
    };
    query.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        search();
      }
    });
    return el(
      "div",
      {},
      text,
      el("p", { class: "hint", id: "ids-hint", text: S.ids_hint }),
      el("div", { class: "row" }, query, el("button", { type: "button", class: "secondary", onclick: search, text: S.search })),
      results
    );
  }

  function imageInput(value, path, onChange) {
    const url = el("input", { value: value || "", "data-path": path, placeholder: "/media/…" });
    const thumb = el("img", { class: "thumb", alt: "", src: value || null, hidden: !value });
    const file = el("input", { type: "file", accept: "image/png,image/jpeg,image/webp,image/gif", "aria-label": S.upload });
    url.addEventListener("input", () => {
      onChange(url.value.trim());
      thumb.hidden = !url.value.trim();
      thumb.src = url.value.trim();
    });
    file.addEventListener("change", async () => {
      if (!file.files.length) return;
      const form = new FormData();
      form.append("image", file.files[0]);
      status(S.uploading, "warn");
      const res = await api("POST", config.images, form, true);
      if (res.ok) {
        url.value = res.data.url;
        thumb.src = res.data.url;
        thumb.hidden = false;
        onChange(res.data.url);
        markDirty();
      } else {
        status(((res.data && res.data.image) || [S.failed]).join(" "), "err");
      }
    });
    return el("div", {}, url, thumb, file);
  }

  function fieldControl(field, values, path, rerender) {
    const value = values[field.name];
    const set = (v) => {
      values[field.name] = v;
      markDirty();
    };
    const id = "f-" + path.replace(/[^\w-]/g, "_");
    switch (field.kind) {
      case "text":
      case "search":
        return el("input", {
          id,
          value: value || "",
          maxlength: field.max_length || null,
          placeholder: field.placeholder || null,
          oninput: (e) => set(e.target.value),
        });
      case "textarea":
      case "html":
        return el("textarea", { id, rows: field.kind === "html" ? 8 : 3, value: value || "", oninput: (e) => set(e.target.value) });
      case "int":
      case "percent":
        return el("input", {
          id,
          type: "number",
          step: field.kind === "int" ? 1 : "any",
          min: field.kind === "percent" ? 0 : field.min,
          max: field.kind === "percent" ? 100 : field.max,
          value: value === null || value === undefined ? "" : value,
          oninput: (e) => set(numberOrText(e.target.value, field.kind)),
        });
      case "bool":
        return el("input", { id, type: "checkbox", checked: !!value, onchange: (e) => set(e.target.checked) });
      case "choice":
        return el(
          "select",
          {
            id,
            onchange: (e) => {
              set(e.target.value);
              rerender();
            },
          },
          (field.choices || []).map(([v, label]) => el("option", { value: v, selected: v === value ? true : null, text: label }))
        );
      case "image":
        return imageInput(value, path, set);
      case "link":
        return linkEditor(value, path, (v) => set(v));
      case "product_ids":
        return productPicker(value, set);
      case "coupon_ids":
        return couponPicker(value, set);
      case "ids":
        return el("input", { id, value: (value || []).join(", "), oninput: (e) => set(parseIds(e.target.value)) });
      case "category":
      case "category_ids": {
        const holder = el("div", { class: "checks" }, "…");
        loadCategories().then((categories) => {
          if (field.kind === "category") {
            const select = el(
              "select",
              { id, onchange: (e) => set(e.target.value ? parseInt(e.target.value, 10) : null) },
              el("option", { value: "", text: S.none }),
              categories.map((c) => el("option", { value: c.id, selected: c.id === value ? true : null, text: c.name }))
            );
            holder.replaceChildren(select);
          } else {
            const chosen = new Set(value || []);
            holder.replaceChildren(
              ...categories.map((c) =>
                el(
                  "label",
                  {},
                  el("input", {
                    type: "checkbox",
                    value: c.id,
                    checked: chosen.has(c.id),
                    onchange: (e) => {
                      if (e.target.checked) chosen.add(c.id);
                      else chosen.delete(c.id);
                      set(categories.map((x) => x.id).filter((x) => chosen.has(x)));
                    },
                  }),
                  c.name
                )
              )
            );
          }
        });
        return holder;
      }
      case "list": {
        const items = Array.isArray(value) ? value : [];
        values[field.name] = items;
        const box = el("div", {});
        items.forEach((item, n) => {
          const itemPath = path + "[" + n + "]";
          box.append(
            el(
              "fieldset",
              {},
              el("legend", { text: S.item + " " + (n + 1) }),
              fieldsForm(field.fields, item, itemPath, rerender),
              el("button", {
                type: "button",
                class: "secondary",
                onclick: () => {
                  items.splice(n, 1);
                  markDirty();
                  rerender();
                },
                text: S.remove_item,
              })
            )
          );
        });
        if (!field.max_items || items.length < field.max_items) {
          box.append(
            el("button", {
              type: "button",
              class: "secondary",
              "data-add": field.name,
              onclick: () => {
                const fresh = {};
                for (const sub of field.fields) fresh[sub.name] = sub.default === undefined ? null : clone(sub.default);
                items.push(fresh);
                markDirty();
                rerender();
              },
              text: S.add_item,
            })
          );
        }
        return box;
      }
      default:
        return el("input", { id, value: value === undefined || value === null ? "" : String(value), oninput: (e) => set(e.target.value) });
    }
  }

  function fieldsForm(fields, values, prefix, rerender) {
    const form = el("div", { class: "deco-form" });
    for (const field of fields) {
      if (!visible(field, values)) continue;
      const path = prefix + "." + field.name;
      const id = "f-" + path.replace(/[^\w-]/g, "_");
      const messages = errorsFor(path, field.kind === "link");
      const wrap = el(
        "div",
        { class: "field", "data-field": field.name, "data-path": path },
        el("label", { for: id, text: field.label + (field.required ? " *" : "") }),
        fieldControl(field, values, path, rerender),
        field.help ? el("p", { class: "hint", text: field.help }) : null,
        messages.length ? errorList(messages) : null
      );
      form.append(wrap);
    }
    return form;
  }

  function renderForm() {
    const holder = $("deco-form");
    const block = state.blocks[state.selected];
    if (!block) {
      holder.replaceChildren(el("p", { class: "hint", text: S.choose_block }));
      return;
    }
    const spec = state.types[block.type];
    const prefix = blockPrefix(state.selected);
    const own = [...(state.errors[prefix] || []), ...(state.errors[prefix + ".type"] || []), ...(state.errors[prefix + ".id"] || [])];
    if (!spec) {
      holder.replaceChildren(el("p", { text: block.type }), errorList(own));
      return;
    }
    block.config = block.config && typeof block.config === "object" ? block.config : {};
    const rerender = () => renderForm();
    const parts = [
      el("h3", { text: spec.label }),
      spec.description ? el("p", { class: "hint", text: spec.description }) : null,
      own.length ? errorList(own) : null,
      fieldsForm(spec.fields, block.config, prefix + ".config", rerender),
    ];
    holder.replaceChildren(...parts.filter(Boolean));
  }

  function render() {
    renderBlocks();
    renderForm();
    showGlobalErrors();
  }

  // --- versions -----------------------------------------------------------------------
  async function loadVersions() {
    const res = await api("GET", config.api + "versions/");
    if (!res.ok) return;
    $("deco-versions").replaceChildren(
      ...res.data.map((v) =>
        el(
          "li",
          { "data-version": v.number },
          el(
            "span",
            {},
            S.version + " " + v.number + (v.live ? " · " + S.live : "") + (v.rolled_back_from ? " · " + fmt(S.rolled_back_from, { n: v.rolled_back_from }) : ""),
            el("br"),
            el("small", { class: "hint", text: new Date(v.published_at).toLocaleString() + (v.published_by ? " " + S.by + " " + v.published_by : "") })
          ),
          v.live ? null : el("button", { type: "button", class: "secondary", onclick: () => rollback(v.number), text: S.rollback })
        )
      )
    );
  }

  function reloadPreview() {
    const frame = $("deco-preview");
    const src = frame.getAttribute("src");
    frame.setAttribute("src", src.split("#")[0]);
  }

  // --- save, publish, rollback --------------------------------------------------------
  async function save() {
    status(S.saving, "warn");
    const body = { blocks: state.blocks, revision: state.revision };
    const title = $("deco-title");
    if (title) body.title = title.value;
    const res = await api("PUT", config.api + "draft/", body);
    if (res.ok) {
      state.blocks = res.data.blocks;
      state.revision = res.data.revision;
      state.errors = {};
      state.dirty = false;
      render();
      status(S.saved, "ok");
      reloadPreview();
      return true;
    }
    if (res.status === 409) {
      status(((res.data && res.data.revision) || [S.failed]).join(" "), "err");
      return false;
    }
    state.errors = res.status === 400 && res.data && typeof res.data === "object" ? res.data : {};
    const first = Object.keys(state.errors).map((k) => /^blocks\[(\d+)\]/.exec(k)).find(Boolean);
    if (first) state.selected = parseInt(first[1], 10);
    render();
    status(res.status === 400 ? S.errors : (res.data && res.data.detail) || S.failed, "err");
    return false;
  }

  async function publish() {
    if (state.dirty && !(await save())) return;
    status(S.publishing, "warn");
    const res = await api("POST", config.api + "publish/");
    if (!res.ok) {
      state.errors = res.status === 400 && res.data ? res.data : {};
      render();
      status(res.status === 400 ? S.errors : (res.data && res.data.detail) || S.failed, "err");
      return;
    }
    status(fmt(S.published, { n: res.data.published_version }), "ok");
    $("deco-state").textContent = fmt(S.published, { n: res.data.published_version });
    loadVersions();
    reloadPreview();
  }

  async function rollback(number) {
    if (!window.confirm(fmt(S.rollback_confirm, { n: number }))) return;
    const res = await api("POST", config.api + "rollback/", { version: number });
    if (!res.ok) {
      status(((res.data && res.data.version) || [S.failed]).join(" "), "err");
      return;
    }
    state.blocks = res.data.blocks;
    state.revision = res.data.revision;
    state.errors = {};
    state.dirty = false;
    state.selected = -1;
    render();
    status(fmt(S.rolled_back, { n: number, m: res.data.published_version }), "ok");
    $("deco-state").textContent = fmt(S.published, { n: res.data.published_version });
    loadVersions();
    reloadPreview();
  }

  // --- start --------------------------------------------------------------------------
  async function start() {
    const [types, draft] = await Promise.all([api("GET", config.blocks), api("GET", config.api + "draft/")]);
    if (!types.ok || !draft.ok) {
      status(S.failed, "err");
      return;
    }
    for (const spec of types.data.types) {
      state.types[spec.type] = spec;
      state.order.push(spec.type);
    }
    state.blocks = draft.data.blocks;
    state.revision = draft.data.revision;
    renderPalette();
    render();
    loadVersions();
    $("deco-save").addEventListener("click", save);
    $("deco-publish").addEventListener("click", publish);
    const title = $("deco-title");
    if (title) title.addEventListener("input", markDirty);
    window.addEventListener("beforeunload", (event) => {
      if (state.dirty) {
        event.preventDefault();
        event.returnValue = S.leave;
      }
    });
    document.body.setAttribute("data-editor-ready", "1");
  }

  start();
})();
