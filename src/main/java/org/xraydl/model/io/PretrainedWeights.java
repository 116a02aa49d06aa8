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
 * ImageNet weights from the DL4J zoo: same URL, cache folder ({@code ~/.deeplearning4j/models/<model>/},
 * or {@code -Dorg.deeplearning4j.resources.directory}) and Adler32 checksum as
 * {@code ZooModel.initPretrained}, but with bounded timeouts (the zoo's are infinite), an atomic
 * download, and one-line errors that say where to put the file when this machine is offline.
 * The base URL follows {@code DL4JResources} ({@code -Dorg.deeplearning4j.resources.baseurl}).
 */
public final class PretrainedWeights {
    static int connectTimeoutMs = Integer.getInteger("xraydl.download.connectTimeoutMs", 10_000);
    static int readTimeoutMs = Integer.getInteger("xraydl.download.readTimeoutMs", 60_000);

    private PretrainedWeights() {
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
        if (!Files.exists(target)) {
            download(url, target, expectedAdler32);
        }
        if (expectedAdler32 != 0) {
            long actual = adler32(target);
            if (actual != expectedAdler32) {
                try {
                    Files.deleteIfExists(target);
                } catch (IOException ignored) {
                    // reported below either way
                }
                throw new UserError("checksum mismatch for " + target + " (Adler32 " + actual + ", expected "
                        + expectedAdler32 + "): the stale file was deleted; run again to re-download, or copy a good file there");
            }
        }
    }

    private static void download(String url, Path target, long checksum) {
        String hint = "put " + target.getFileName() + (checksum != 0 ? " (Adler32 " + checksum + ")" : "")
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

    public static long adler32(Path file) {
        try (CheckedInputStream in = new CheckedInputStream(Files.newInputStream(file), new Adler32())) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return in.getChecksum().getValue();
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        }
    }
}
