package org.xraydl.model.io;

import org.xraydl.AtomicFiles;

import org.deeplearning4j.common.resources.DL4JResources;
import org.deeplearning4j.common.resources.ResourceType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.zoo.PretrainedType;
import org.deeplearning4j.zoo.ZooModel;
import org.xraydl.UserError;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.Adler32;
import java.util.zip.CheckedInputStream;
import java.util.zip.ZipFile;

/**
 * ImageNet weights downloaded once into a cache folder ({@code ~/.deeplearning4j/models/<model>/},
 * or {@code -Dorg.deeplearning4j.resources.directory}), with bounded timeouts (the zoo's are
 * infinite), an atomic download, a checksum check, and one-line errors that say where to put the
 * file when this machine is offline.
 * <ul>
 * <li>VGG16: the DL4J zoo's file, URL and Adler32 checksum as {@code ZooModel.initPretrained}; the
 * base URL follows {@code DL4JResources} ({@code -Dorg.deeplearning4j.resources.baseurl}).</li>
 * <li>DenseNet-121: Keras' published no-top file and its MD5 from Keras' {@code densenet.py}; the
 * base URL can be changed with {@code -Dxraydl.keras.baseurl} (a mirror).</li>
 * </ul>
 */
public final class PretrainedWeights {
    static int connectTimeoutMs = Integer.getInteger("xraydl.download.connectTimeoutMs", 10_000);
    static int readTimeoutMs = Integer.getInteger("xraydl.download.readTimeoutMs", 60_000);

    /** Keras applications' DenseNet folder; {@value #KERAS_BASE_URL_PROPERTY} overrides it. */
    static final String KERAS_DENSENET_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/";
    public static final String KERAS_BASE_URL_PROPERTY = "xraydl.keras.baseurl";
    /** Keras' DenseNet-121 ImageNet weights without the 1000-class head (ours replaces it). */
    public static final String DENSENET121_NOTOP = "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5";
    /** Its file_hash in Keras' densenet.py (MD5). */
    static final String DENSENET121_NOTOP_MD5 = "4912a53fbd2a69346e7f2c0b5ec8c6d3";
    /** The MD5 expected; tests serve a generated file, which cannot have Keras' hash. */
    static String densenet121NotopMd5 = DENSENET121_NOTOP_MD5;

    /** An expected checksum of a download: Adler32 (the DL4J zoo's) or MD5 (Keras'), as a decimal or hex string. */
    record Checksum(String algorithm, String expected) {
        static Checksum adler32(long value) {
            return new Checksum("Adler32", Long.toString(value));
        }

        static Checksum md5(String hex) {
            return new Checksum("MD5", hex.toLowerCase(java.util.Locale.ROOT));
        }

        boolean unchecked() {
            return expected.isEmpty() || expected.equals("0");
        }

        String of(Path file) {
            return algorithm.equals("Adler32") ? Long.toString(PretrainedWeights.adler32(file)) : PretrainedWeights.md5(file);
        }

        @Override
        public String toString() {
            return algorithm + " " + expected;
        }
    }

    private PretrainedWeights() {
    }

    /**
     * Keras' DenseNet-121 ImageNet no-top weights, downloaded on first use into
     * {@code <DL4J resources>/models/densenet121/} and checked against Keras' MD5.
     *
     * @return the cached .h5 file, to be copied into the network by layer name
     */
    public static Path densenet121Imagenet() {
        String base = System.getProperty(KERAS_BASE_URL_PROPERTY, KERAS_DENSENET_BASE_URL);
        String url = (base.endsWith("/") ? base : base + "/") + DENSENET121_NOTOP;
        File dir = DL4JResources.getDirectory(ResourceType.ZOO_MODEL, "densenet121");
        Path cached = dir.toPath().resolve(DENSENET121_NOTOP);
        fetch(url, cached, Checksum.md5(densenet121NotopMd5));
        return cached;
    }

    public static ComputationGraph imagenet(ZooModel zoo) {
        String url = zoo.pretrainedUrl(PretrainedType.IMAGENET);
        if (url == null) {
            throw new UserError("the DL4J zoo has no ImageNet weights for " + zoo.modelName());
        }
        long checksum = zoo.pretrainedChecksum(PretrainedType.IMAGENET);
        File dir = DL4JResources.getDirectory(ResourceType.ZOO_MODEL, zoo.modelName());
        Path cached = dir.toPath().resolve(new File(url).getName());
        fetch(url, cached, checksum);
        // The cache is a folder anyone with access may write to: same entry check as any model file.
        try (ZipFile zip = ModelZip.open(cached, "cached ImageNet weights")) {
            return ModelZip.restoreGraph(zip, false);
        } catch (UserError e) {
            throw new UserError(e.getMessage() + " (or delete the file and run again)");
        } catch (IOException | RuntimeException e) {
            throw new UserError("cached ImageNet weights " + cached + " cannot be loaded (" + e.getMessage()
                    + "): delete the file and run again");
        }
    }

    /** Ensures {@code target} holds the file at {@code url} with the given Adler32 checksum (0 = unchecked). */
    public static void fetch(String url, Path target, long expectedAdler32) {
        fetch(url, target, Checksum.adler32(expectedAdler32));
    }

    /** Ensures {@code target} holds the file at {@code url} with the given checksum: downloads it if absent, deletes it if wrong. */
    static void fetch(String url, Path target, Checksum expected) {
        if (!Files.exists(target)) {
            download(url, target, expected);
        }
        if (!expected.unchecked()) {
            String actual = expected.of(target);
            if (!actual.equals(expected.expected())) {
                try {
                    Files.deleteIfExists(target);
                } catch (IOException ignored) {
                    // reported below either way
                }
                throw new UserError("checksum mismatch for " + target + " (" + expected.algorithm() + " " + actual + ", expected "
                        + expected.expected() + "): the bad file was deleted; run again to re-download, or copy a good file there");
            }
        }
    }

    private static void download(String url, Path target, Checksum checksum) {
        String hint = "put " + target.getFileName() + (checksum.unchecked() ? "" : " (" + checksum + ")")
                + " at " + target + ", or pass --weights FILE or --weights none";
        try {
            URLConnection c = new URL(url).openConnection();
            c.setConnectTimeout(connectTimeoutMs);
            c.setReadTimeout(readTimeoutMs);
            if (c instanceof HttpURLConnection h && h.getResponseCode() != 200) {
                throw new UserError("cannot download ImageNet weights from " + url + " (HTTP " + h.getResponseCode() + "): " + hint);
            }
            AtomicFiles.write(target, tmp -> {
                try (InputStream in = c.getInputStream()) {
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                }
            });
        } catch (IOException e) {
            throw new UserError("cannot download ImageNet weights from " + url + " (" + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()) + "); offline? " + hint);
        }
    }

    static String md5(Path file) {
        try (java.security.DigestInputStream in = new java.security.DigestInputStream(Files.newInputStream(file),
                java.security.MessageDigest.getInstance("MD5"))) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return java.util.HexFormat.of().formatHex(in.getMessageDigest().digest());
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no MD5", e); // every Java SE has it
        }
    }

    public static long adler32(Path file) {
        try (CheckedInputStream in = new CheckedInputStream(Files.newInputStream(file), new Adler32())) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return in.getChecksum().getValue();
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        }
    }
}
