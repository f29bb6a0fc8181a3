python examples/run_pipeline.py                      # writes runs/pipeline/report.md
python examples/run_pipeline.py --resume             # continue after an interruption
python examples/run_pipeline.py --proxy threshold --run-dir runs/pipeline_threshold  # no saliency
