"""The code of each chapter, one runnable script per lecture, in the order the page shows it."""
