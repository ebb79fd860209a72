"""A model's two stages (:mod:`core.model.cascade`): its graph split after the presence
head, and the cut below which Detect skips the decoder, chosen on validation.

The split is exact: the presence stage ends in the presence score and every encoder
tensor the decoder reads, so the two stages together compute the whole graph bit for
bit. The cut is the largest candidate whose validation scene (the images run as one
scene, at the model's threshold) keeps pixel recall within ``MAX_RECALL_LOSS`` of the
whole graph's and finds every landslide the whole graph finds; the share of windows it
skips is measured there and on the landslide-free validation images alone (terrain
where nothing happened, what most of a real scene is). Candidates stop at the model's
threshold: a window skipped below it could not have mapped a pixel on its own. Above it,
validation allowed 0.7 (more skipped, recall -0.001), but on imagery unlike the training
images the presence head is less sure, and the generated demo scene lost 11 % of its
landslide pixels at 0.7 against 0.1 % at 0.4: speed must not cost a mapper landslides on
a sensor nobody validated.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.model.cascade import CASCADE_METADATA_KEY, stage_paths
from .datasets import Dataset, as_dataset

CANDIDATE_CUTS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
MAX_RECALL_LOSS = 0.01  # pixel recall, absolute, on the validation scene


def split_stages(model_path: str | Path) -> tuple[Path, Path]:
    """Write ``<model>_presence.onnx`` and ``<model>_decoder.onnx`` beside the model."""
    import onnx
    from onnx.utils import Extractor

    source = Path(model_path)
    graph_model = onnx.shape_inference.infer_shapes(onnx.load(str(source)))
    graph = graph_model.graph
    presence = presence_tensor(graph)
    producer = {out: node for node in graph.node for out in node.output}
    first_stage, pending = set(), [presence]
    while pending:  # every node the presence score depends on
        node = producer.get(pending.pop())
        if node is not None and node.name not in first_stage:
            first_stage.add(node.name)
            pending.extend(node.input)
    made_first = {out for node in graph.node if node.name in first_stage for out in node.output}
    features = sorted({name for node in graph.node if node.name not in first_stage
                       for name in node.input if name in made_first} - {presence})
    if any(i.name in {n for node in graph.node if node.name not in first_stage for n in node.input}
           for i in graph.input):
        raise ValueError(f"{source.name}: the decoder reads the image itself; it cannot run from the features alone")
    # an INT8 graph's features cross as their 8-bit values, the decoder dequantizing them
    # itself: as float, its first convolutions would lose their quantized kernels (and the
    # features would take 4x the memory between the stages)
    features = sorted({producer[f].input[0] if producer[f].op_type == "DequantizeLinear" else f for f in features})
    extractor = Extractor(graph_model)
    presence_path, decoder_path = stage_paths(source)
    # the score first: Cascade reads it as the presence stage's first output
    onnx.save(extractor.extract_model([graph.input[0].name], [presence, *features]), str(presence_path))
    onnx.save(extractor.extract_model([presence, *features], [graph.output[0].name]), str(decoder_path))
    return presence_path, decoder_path


def presence_tensor(graph) -> str:
    """The presence head's score: the output of the sigmoid of the layer named ``presence``."""
    found = [out for node in graph.node if node.op_type == "Sigmoid" and "/presence" in f"/{node.name}"
             for out in node.output]
    if len(found) != 1:
        raise ValueError("this model has no presence head (no single sigmoid named 'presence'): it cannot skip windows")
    return found[0]


def choose_cut(model_path: str | Path, dataset: Dataset | str | Path, candidates=CANDIDATE_CUTS, log=print,
               max_cut: float | None = None, why_capped: str = "") -> dict:
    """Run the validation scene through the whole graph and through the stages at each
    candidate cut; store the chosen cut and its evidence in the presence stage's metadata.
    ``max_cut`` (below the threshold) caps the candidates, for evidence from beyond the
    validation images (``why_capped`` says which; recorded with the cut)."""
    import onnx

    from ..core.model.onnx_model import OnnxModel
    from .calibrate import training_split
    from .evaluate import ValidationMosaic, predict_sample, score_probabilities

    path = Path(model_path)
    dataset = as_dataset(dataset)
    whole = OnnxModel(path)
    threshold = whole.spec.threshold
    highest = threshold if max_cut is None else min(threshold, max_cut)
    validation = dataset.samples(training_split(whole.spec.to_dict(), dataset).validation)
    scenes = {"validation": ValidationMosaic.of(validation),
              "landslide_free": ValidationMosaic.of([s for s in validation if not s.mask.any()])}

    def scores(model, scene="validation"):
        mosaic = scenes[scene]
        probabilities = mosaic.cut(predict_sample(model, mosaic.scene))
        return score_probabilities(probabilities, mosaic.masks(), [threshold])[threshold]

    reference = scores(whole)
    log(f"whole graph: recall {reference['recall']}, F1 {reference['f1']}, "
        f"{reference['objects_detected']} landslides found")
    evidence = None
    for cut in sorted(c for c in candidates if c <= highest):
        staged = OnnxModel(path, skip_empty=True, presence_cut=cut)
        if staged.cascade is None:
            raise ValueError(f"{path.name} has no stages beside it: split it first")
        result = scores(staged)
        skipped = staged.cascade.tally.share_skipped
        log(f"cut {cut}: recall {result['recall']}, F1 {result['f1']}, {result['objects_detected']} found, "
            f"{skipped:.1%} of windows skipped")
        if (result["recall"] < reference["recall"] - MAX_RECALL_LOSS
                or result["objects_detected"] < reference["objects_detected"]):
            break
        evidence = {"cut": cut, "threshold": threshold,
                    "validation_scene": {"images": len(validation), "windows_skipped": round(skipped, 4),
                                         "recall_whole": reference["recall"], "recall": result["recall"],
                                         "f1_whole": reference["f1"], "f1": result["f1"],
                                         "landslides_found_whole": reference["objects_detected"],
                                         "landslides_found": result["objects_detected"]}}
    if evidence is None:
        raise ValueError(f"{path.name}: even the smallest cut ({min(candidates)}) loses recall on validation; "
                         "the model runs whole")
    intact = OnnxModel(path, skip_empty=True, presence_cut=evidence["cut"])
    scores(intact, "landslide_free")
    evidence["landslide_free_scene"] = {"images": sum(not s.mask.any() for s in validation),
                                        "windows_skipped": round(intact.cascade.tally.share_skipped, 4)}
    evidence["rule"] = (f"the largest of {[c for c in candidates if c <= highest]} (up to the threshold"
                        + (f", capped at {max_cut}: {why_capped}" if highest < threshold else "")
                        + f") keeping validation pixel recall within {MAX_RECALL_LOSS} of the whole graph's and "
                        "every landslide it finds")
    presence_path = stage_paths(path)[0]
    proto = onnx.load(str(presence_path))
    props = {p.key: p.value for p in proto.metadata_props}
    onnx.helper.set_model_props(proto, {**props, CASCADE_METADATA_KEY: json.dumps(evidence, sort_keys=True)})
    onnx.save(proto, str(presence_path))
    log(f"{path.name}: cut {evidence['cut']}: {json.dumps(evidence)}")
    return evidence
