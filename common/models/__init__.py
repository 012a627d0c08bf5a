"""Model parts shared by several papers: Keras layers (:mod:`.layers`) and the FCN tagging
network of Choi et al. 2016 (:mod:`.fcn`).
"""
