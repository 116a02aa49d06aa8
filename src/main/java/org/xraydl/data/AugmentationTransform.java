package org.xraydl.data;

import org.bytedeco.opencv.opencv_core.Mat;

import org.datavec.image.data.ImageWritable;
import org.datavec.image.transform.BaseImageTransform;
import org.datavec.image.transform.FlipImageTransform;
import org.datavec.image.transform.RotateImageTransform;

import java.util.OptionalDouble;
import java.util.Random;

/**
 * The paper's training augmentation (RandomRotation(30), RandomResizedCrop, RandomHorizontalFlip), drawn
 * from the Random it is given, per image: DataVec's rotation (four floats, of which only the angle matters with
 * no shift or scale), up to ten crop attempts (area scale and log aspect ratio, then the position) and one flip. DataVec's PipelineImageTransform is not used because it
 * re-seeds ND4J's global RNG.
 *
 * <p>Optionally, last, ColorJitter's brightness and contrast ({@link IntensityJitter}, on the small crop): their
 * factors are drawn after every other number, and only when their amount is > 0, so the rotation, crop and flip
 * are those of the same image without them, and with both 0 the output is exactly the paper's augmentation.
 *
 * <p>Training makes one instance per image, with that image's own Random ({@link ImageRandom#forImage}: a
 * function of the epoch's seed and the image's position in the epoch's shuffled order), so that the batches
 * can be decoded on several threads and are the same for any number of them ({@link ImageBatchIterator}).
 * Until then one Random(epoch seed) was drawn from by every image of the epoch in turn; the change gave every
 * image other numbers once (runs before it cannot be repeated bit for bit by later code), from the same
 * distributions: the same draws per image as before, only from another stream.
 */
public class AugmentationTransform extends BaseImageTransform<Object> {
    private final RotateImageTransform rotate;
    private final RandomResizedCropTransform crop;
    private final FlipImageTransform horizontalFlip = new FlipImageTransform(1);
    private final boolean flip;
    /** Null when brightness and contrast are both 0 (nothing drawn, nothing done). */
    private final IntensityJitter jitter;
    /** Before rotation, so the whole chain sees what an 8-bit copy of the image would give. */
    private final MatTransform eightBit = new EightBit();

    /** Without brightness and contrast jitter (the paper's augmentation). */
    public AugmentationTransform(Random random, int size, double rotationDegrees, double cropScaleMin, boolean flip,
                                 Resampling resampling) {
        this(random, size, rotationDegrees, cropScaleMin, flip, resampling, 0, 0);
    }

    /**
     * @param resampling the filter of the crop's resize (the run's {@code resampling} key)
     * @param brightness the run's {@code brightness} key (0 = off)
     * @param contrast the run's {@code contrast} key (0 = off)
     */
    public AugmentationTransform(Random random, int size, double rotationDegrees, double cropScaleMin, boolean flip,
                                 Resampling resampling, double brightness, double contrast) {
        super(random);
        this.rotate = rotationDegrees > 0 ? new RotateImageTransform(random, (float) rotationDegrees) : null;
        this.crop = new RandomResizedCropTransform(random, size, cropScaleMin, resampling);
        this.flip = flip;
        this.jitter = brightness > 0 || contrast > 0 ? new IntensityJitter(random, brightness, contrast) : null;
    }

    @Override
    protected ImageWritable doTransform(ImageWritable image, Random random) {
        if (image == null) {
            return null;
        }
        ImageWritable out = eightBit.transform(image, random);
        if (rotate != null) {
            out = rotate.transform(out, random);
        }
        out = crop.transform(out, random);
        if (flip && random.nextBoolean()) {
            out = horizontalFlip.transform(out);
        }
        if (jitter != null) {
            out = jitter.transform(out, random);
        }
        return out;
    }

    /**
     * The angle (degrees, OpenCV's sign: positive is counter-clockwise on the screen) of the last image's rotation,
     * read back from the matrix DataVec's rotation used (empty before the first image or without rotation). For
     * diagnostics ({@code org.xraydl.diagnose.ImagePathDump}).
     */
    public OptionalDouble lastRotationDegrees() {
        if (rotate == null || rotate.M() == null) {
            return OptionalDouble.empty();
        }
        org.bytedeco.javacpp.indexer.DoubleIndexer m = rotate.M().createIndexer();
        double cos = m.get(0, 0);
        double sin = m.get(0, 1);
        m.release();
        return OptionalDouble.of(Math.toDegrees(Math.atan2(sin, cos)));
    }

    /** The image in 8-bit depth, otherwise unchanged ({@link MatTransform} does the conversion). */
    private static final class EightBit extends MatTransform {
        EightBit() {
            super(null);
        }

        @Override
        EightBit copy() {
            return new EightBit();
        }

        @Override
        protected Mat transform(Mat image, Random random) {
            return image;
        }
    }
}
