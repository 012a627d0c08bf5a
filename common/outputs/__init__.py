"""Outputs a researcher reads: result tables and figures beside the paper's numbers
(:mod:`.result_tables`), confusion matrices (:mod:`.confusion`) and ``results/REPORT.md`` (:mod:`.report`).
"""
