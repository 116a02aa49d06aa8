package org.xraydl.run;

import org.xraydl.UserError;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An OS file lock on {@code <run folder>/.lock}, held while a training writes into the folder, so
 * a second training (another process, or this one) cannot write into it at the same time. The
 * operating system drops the lock when the process ends, however it ends: a {@code .lock} file
 * left by a killed run is taken over without a word. The file itself is never deleted (deleting
 * it would let a third process lock a fresh file while the second still holds the old one).
 */
public final class RunLock implements AutoCloseable {
    public static final String FILE = ".lock";

    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Locks {@code dir} (which must exist) or stops with one line if another training holds it. */
    public static RunLock acquire(Path dir) {
        Path file = dir.resolve(FILE);
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UserError("cannot create the lock file " + file + ": " + e.getMessage());
        }
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException sameJvm) {
            l = null;
        } catch (IOException e) {
            closeQuietly(ch);
            throw new UserError("cannot lock " + file + ": " + e.getMessage());
        }
        if (l == null) {
            closeQuietly(ch);
            throw new UserError("run folder " + dir + " is in use by another training (it holds " + file
                    + "): wait for it to end, or pass another --out / --name");
        }
        try {
            // Who holds it, for a person looking at the folder; the lock, not this text, is what counts.
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)));
        } catch (IOException ignored) {
            // the lock is held; the pid note is only informative
        }
        return new RunLock(ch, l);
    }

    /** True when {@code name} is this lock's file (a folder holding only it counts as empty). */
    public static boolean isLockFile(Path p) {
        return FILE.equals(p.getFileName().toString());
    }

    @Override
    public void close() {
        try {
            lock.release();
        } catch (IOException ignored) {
            // closing the channel below releases it as well
        }
        closeQuietly(channel);
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing was written through it that matters
        }
    }
}
