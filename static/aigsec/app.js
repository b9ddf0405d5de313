// aigsec: progressive enhancement only; every page works without it.
document.addEventListener("change", (event) => {
  // The team switcher submits on change for keyboard and mouse users alike.
  const select = event.target.closest(".team-switch select");
  if (select) select.form.requestSubmit();
});

document.addEventListener("htmx:afterSettle", (event) => {
  // A control opened from its summary replaces that summary: keep the keyboard focus where
  // the user was (on the control's title) instead of losing it to the top of the page.
  const source = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (!source || !source.matches(".control-summary details")) return;
  const title = document.querySelector(`${source.getAttribute("hx-target")} .control-title`);
  if (title) title.focus();
});
