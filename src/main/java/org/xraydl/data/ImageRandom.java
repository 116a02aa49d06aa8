package org.xraydl.data;

import java.util.Random;
import java.util.SplittableRandom;

/**
 * The random numbers of one training image's augmentation, a function of the epoch's seed and the image's
 * position in that epoch's shuffled order only. Each image has its own {@link Random}, so images can be
 * decoded in any order, on any number of threads, and still get the same rotation, crop and flip.
 *
 * <p>The derivation is SplitMix64, the generator of {@link SplittableRandom}: the epoch seed {@code s} gives the
 * stream's start {@code b = new SplittableRandom(s).nextLong()} (so consecutive epoch seeds, {@code seed + epoch},
 * give unrelated streams), and the image at position {@code k} (0-based) gets the {@code (k+1)}-th value of
 * {@code new SplittableRandom(b)}, i.e. {@code mix64(b + (k + 1) * 0x9E3779B97F4A7C15)} with SplitMix64's
 * finaliser {@code mix64}; that value seeds the image's {@code java.util.Random}. {@code java.util.Random} alone
 * would not do as the mix: its seed scrambling is one XOR, and the first draws of {@code Random(s)} and
 * {@code Random(s + 1)} are close to each other.
 */
public final class ImageRandom {
    /** SplitMix64's increment (the golden ratio in 64 bits), as in {@link SplittableRandom}. */
    static final long GAMMA = 0x9E3779B97F4A7C15L;

    private ImageRandom() {
    }

    /** The seed of the image at {@code position} of the epoch with seed {@code epochSeed}. */
    public static long seed(long epochSeed, long position) {
        if (position < 0) {
            throw new IllegalArgumentException("image position must be >= 0, got " + position);
        }
        return mix64(start(epochSeed) + (position + 1) * GAMMA);
    }

    /** A fresh Random for the image at {@code position} of the epoch with seed {@code epochSeed}. */
    public static Random forImage(long epochSeed, long position) {
        return new Random(seed(epochSeed, position));
    }

    /**
     * The epoch seed of the {@code pass}-th pass of an iterator (0: the first, {@code epochSeed} itself; a reset
     * pass, which training never makes, gets other numbers than the first rather than the same ones again).
     */
    public static long passSeed(long epochSeed, int pass) {
        return pass == 0 ? epochSeed : mix64(mix64(epochSeed) + pass);
    }

    /** The first value of {@code new SplittableRandom(epochSeed)}. */
    static long start(long epochSeed) {
        return mix64(epochSeed + GAMMA);
    }

    /** SplitMix64's finaliser (Stafford's variant 13), the output function of {@link SplittableRandom}. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
