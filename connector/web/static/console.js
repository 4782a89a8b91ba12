// Copy buttons: <button data-copy="ID"> copies the text of #ID and says so to screen readers.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const status = button.parentElement.querySelector(".copied");
  const text = source.textContent.trim();
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (plain http): select the text so Ctrl+C works.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    if (status) status.textContent = "Selected — press Ctrl+C";
    return;
  }
  if (status) {
    status.textContent = "Copied";
    setTimeout(() => { status.textContent = ""; }, 2500);
  }
});
