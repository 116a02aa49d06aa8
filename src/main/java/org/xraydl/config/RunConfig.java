package org.xraydl.config;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;

/**
 * Everything that defines a training run, immutable. Built by {@link ConfigLoader} from
 * the bundled defaults, a YAML file and CLI overrides; saved into every run directory and
 * every model zip so a model always says how it was made.
 */
@JsonIgnoreProperties(ignoreUnknown = false)
public record RunConfig(
        /* Run name: the run directory is runs/<name> unless an output folder is given. */
        @JsonProperty("name") String name,
        /* Folder with class subfolders (or a Kaggle chest_xray tree). */
        @JsonProperty("data") String data,
        /* Output run directory; empty means runs/<name>. */
        @JsonProperty("out") String out,

        /* vgg16 | densenet121 | densenet (compact, configured by the densenet* keys). */
        @JsonProperty("model") String model,
        /* imagenet | none | path to a DL4J zip or a Keras .h5. */
        @JsonProperty("weights") String weights,
        /* Freeze the pretrained trunk; null means "freeze unless weights = none". */
        @JsonProperty("freezeTrunk") Boolean freezeTrunk,
        @JsonProperty("densenetGrowth") int densenetGrowth,
        @JsonProperty("densenetBlocks") List<Integer> densenetBlocks,
        @JsonProperty("densenetInitFeatures") int densenetInitFeatures,
        /* Head hidden widths and dropout (drop probability, as in PyTorch) per hidden layer. */
        @JsonProperty("headHidden") List<Integer> headHidden,
        @JsonProperty("headDropout") List<Double> headDropout,

        @JsonProperty("imageSize") int imageSize,
        /* Eval path: resize to imageSize * resizeRatio, then centre-crop imageSize (paper: 255 -> 224). */
        @JsonProperty("resizeRatio") double resizeRatio,
        /* imagenet (x/255, mean/std) | vgg (BGR mean subtraction, 0..255) */
        @JsonProperty("normalization") String normalization,
        @JsonProperty("augment") boolean augment,
        @JsonProperty("rotationDegrees") double rotationDegrees,
        @JsonProperty("cropScaleMin") double cropScaleMin,
        @JsonProperty("flip") boolean flip,
        /* Training only: ColorJitter brightness and contrast amounts in [0, 1); 0 = off (also how a config stored before the keys reads). */
        @JsonProperty("brightness") double brightness,
        @JsonProperty("contrast") double contrast,
        /* Filter of the training crop's and the evaluation resize: opencv (INTER_LINEAR crop, INTER_AREA evaluation)
           | antialias (PIL's antialiased bilinear in both, as torchvision). Null (a config stored before the key) = opencv. */
        @JsonProperty("resampling") String resampling,

        @JsonProperty("epochs") int epochs,
        @JsonProperty("batchSize") int batchSize,
        @JsonProperty("learningRate") double learningRate,
        /* Optimiser and learning-rate schedule, validated in ConfigLoader, built by model/Optimization.
           adam | adamw (decoupled weight decay) | sgd (Nesterov momentum when momentum > 0) */
        @JsonProperty("optimizer") String optimizer,
        /* Weight decay on weights (not biases): decoupled for adamw, L2 on the gradient for adam and sgd. */
        @JsonProperty("weightDecay") double weightDecay,
        @JsonProperty("momentum") double momentum,
        @JsonProperty("adamBeta1") double adamBeta1,
        @JsonProperty("adamBeta2") double adamBeta2,
        /* constant | onecycle | cosine | step, counted in iterations (resumable). */
        @JsonProperty("lrSchedule") String lrSchedule,
        /* onecycle: peak rate. */
        @JsonProperty("lrMax") double lrMax,
        /* onecycle and cosine: final rate (cosine: also where warm-up starts). */
        @JsonProperty("lrMin") double lrMin,
        /* cosine: epochs (fractions allowed) of linear warm-up to learningRate. */
        @JsonProperty("warmupEpochs") double warmupEpochs,
        /* onecycle: fraction of the run, at its end, that decays from learningRate to lrMin. */
        @JsonProperty("annealFraction") double annealFraction,
        /* step: multiply the rate by stepGamma every stepEvery epochs. */
        @JsonProperty("stepEvery") int stepEvery,
        @JsonProperty("stepGamma") double stepGamma,
        /* Exponential moving average of the weights (0 = off, else the decay in (0, 1), e.g. 0.999): validation,
           the best epoch and best.zip use the average; last.zip keeps the raw weights and the average. Local engine only. */
        @JsonProperty("emaDecay") double emaDecay,
        /* none | balanced: weight the loss by inverse class frequency of the training split. */
        @JsonProperty("classWeights") String classWeights,
        @JsonProperty("seed") long seed,
        @JsonProperty("valFraction") double valFraction,
        /* Cap on batches per epoch (0 = no cap); for smoke tests and quick looks. */
        @JsonProperty("maxBatchesPerEpoch") int maxBatchesPerEpoch,
        /* Cap on images per class taken from the data folder (0 = all). */
        @JsonProperty("maxImagesPerClass") int maxImagesPerClass,
        @JsonProperty("workers") int workers,
        /* local | spark */
        @JsonProperty("engine") String engine,
        @JsonProperty("sparkMaster") String sparkMaster,
        /* shared | averaging */
        @JsonProperty("trainingMaster") String trainingMaster,
        /* Train the head on trunk features computed once (frozen trunk, no augmentation). */
        @JsonProperty("featurize") boolean featurize,
        /* Skip unreadable images (counted in the report) instead of refusing to start. */
        @JsonProperty("skipBad") boolean skipBad,
        /* Stop after this many epochs without a better validation AUC (0 = never). */
        @JsonProperty("earlyStoppingPatience") int earlyStoppingPatience,
        /* Wall-clock budget for the whole run in minutes (0 = none): no epoch is started that would,
           at the mean pace of this process's epochs, end after it, leaving room for the estimated
           TTA operating-point pass (ttaOperatingPoint), which is skipped if it still does not fit. */
        @JsonProperty("timeBudgetMinutes") double timeBudgetMinutes,
        /* How the decision threshold stored in best.zip is chosen on validation: sensitivity | youden. */
        @JsonProperty("thresholdMethod") String thresholdMethod,
        /* thresholdMethod sensitivity: the highest threshold with validation sensitivity >= this. */
        @JsonProperty("targetSensitivity") double targetSensitivity,
        /* At the end of training, also choose the operating point on validation probabilities averaged over
           the evaluate --tta views (one validation pass per view), for --tta with the stored threshold. */
        @JsonProperty("ttaOperatingPoint") boolean ttaOperatingPoint,
        /* Background threads that decode and augment the next training batches while the model
           trains (0 = on the training thread). Same batches either way. */
        @JsonProperty("loaderThreads") int loaderThreads,
        /* Threads that decode and augment the images of each batch, the thread asking for the batch included
           (0 = one per available processor, 1 = that thread alone). Same batches for any value. */
        @JsonProperty("decodeThreads") int decodeThreads,
        /* Validation minibatch size; 0 = twice batchSize (inference needs less memory). */
        @JsonProperty("evalBatchSize") int evalBatchSize
) {

    public RunConfig {
        // Configs stored in model zips before the key existed: the only filter there was.
        if (resampling == null) {
            resampling = "opencv";
        }
    }

    public int evaluationBatchSize() {
        return evalBatchSize > 0 ? evalBatchSize : 2 * batchSize;
    }

    /** The number of decoding threads {@code decodeThreads} stands for (0: the available processors). */
    public int decodeThreadCount() {
        return decodeThreads > 0 ? decodeThreads : Runtime.getRuntime().availableProcessors();
    }

    public boolean trunkFrozen() {
        if (freezeTrunk != null) {
            return freezeTrunk;
        }
        return !"none".equalsIgnoreCase(weights);
    }
}
