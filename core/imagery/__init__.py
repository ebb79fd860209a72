"""From imagery to model input, one implementation for training and inference: derived
bands and the input stack (:mod:`.bands`), radiometric scaling (:mod:`.scaling`), the
model's input for any window (:mod:`.inputs`) and training patches (:mod:`.patches`)."""
