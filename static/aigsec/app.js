// aigsec: progressive enhancement only; every page works without it.
document.addEventListener("change", (event) => {
  // The team switcher submits on change for keyboard and mouse users alike.
  const select = event.target.closest(".team-switch select");
  if (select) select.form.requestSubmit();
});
