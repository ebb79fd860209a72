"""Models and their spec: the spec an ONNX file carries (:mod:`.spec`), the model run
through ONNX Runtime (:mod:`.onnx_model`, which needs :mod:`.dependencies`), ensembles and
flip averaging (:mod:`.ensemble`), the bundled models (:mod:`.catalog`), models described
the Deepness/GeoDeep way (:mod:`.interop`) and the false-alarm filter a spec may carry
(:mod:`.object_filter`; fitting it is :mod:`core.evaluation.filter_fitting`);
:class:`.protocol.Model` is what the engine needs of any of them, and
:class:`.protocol.DetectModel` what Detect needs of one model or an ensemble."""
