"""The reading side: what a run or a bench grid shows and exports, read from stores only
(no torch import): terminal tables, report.html, the bench summary, plots, the model card
and the training-data export."""
