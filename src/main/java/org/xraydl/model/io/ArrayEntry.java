package org.xraydl.model.io;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.xraydl.UserError;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UTFDataFormatException;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Checks an ND4J binary array entry ({@code coefficients.bin}, {@code updaterState.bin}) before
 * {@code Nd4j.read} allocates anything for it.
 *
 * <p>The format, as {@code Nd4j.write} / {@code BaseDataBuffer.write} and {@code BaseDataBuffer.readHeader}
 * of nd4j-api 1.0.0-M2.1 have it: two buffers, the shape information then the data, each a header
 * (UTF allocation mode; length as an int for the modes DIRECT, HEAP, JAVACPP, else a long; UTF data
 * type) followed by {@code length} big-endian numbers of that type. {@code Nd4j.read} allocates both
 * buffers at the length their header declares before reading a single number, so a few bytes can ask
 * for terabytes: here the lengths are checked against the configuration, and the numbers counted,
 * first.
 */
final class ArrayEntry {
    /** ND4J's maximum rank; a shape information buffer holds 2 * rank + 4 numbers. */
    static final int MAX_RANK = 32;

    private ArrayEntry() {
    }

    /**
     * Refuses (one-line {@link UserError} naming the file) an entry that is not an ND4J array of a
     * floating type with exactly {@code expected} numbers, all present in the entry.
     */
    static void check(ZipFile zip, ZipEntry e, long expected) throws IOException {
        String where = "model zip " + zip.getName() + ": " + e.getName();
        if (expected == 0 && e.getSize() == 0) {
            return; // a network without parameters: ModelZip restores it without reading the entry
        }
        String fix = ": refused (the file is damaged or was edited); retrain, or pass another file";
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(zip.getInputStream(e), 1 << 16))) {
            Header shapeInfo = header(in, where, fix);
            if (shapeInfo.type != DataType.LONG && shapeInfo.type != DataType.INT) {
                throw new UserError(where + " has a shape of type " + shapeInfo.type + fix);
            }
            if (shapeInfo.length < 4 || shapeInfo.length > 2L * MAX_RANK + 4) {
                throw new UserError(where + " declares a shape of " + shapeInfo.length + " numbers (at most "
                        + (2 * MAX_RANK + 4) + ")" + fix);
            }
            long[] info = new long[(int) shapeInfo.length];
            for (int i = 0; i < info.length; i++) {
                info[i] = shapeInfo.type == DataType.LONG ? in.readLong() : in.readInt();
            }
            long rank = info[0];
            if (rank < 0 || 2 * rank + 4 != info.length) {
                throw new UserError(where + " declares rank " + rank + " in a shape of " + info.length + " numbers" + fix);
            }
            long elements = 1;
            for (int i = 1; i <= rank; i++) {
                if (info[i] < 0) {
                    throw new UserError(where + " declares a negative dimension " + info[i] + fix);
                }
                try {
                    elements = Math.multiplyExact(elements, info[i]);
                } catch (ArithmeticException overflow) {
                    throw new UserError(where + " declares a shape with more than " + Long.MAX_VALUE + " numbers" + fix);
                }
            }
            Header data = header(in, where, fix);
            if (!data.type.isFPType() || data.type == DataType.COMPRESSED) {
                throw new UserError(where + " holds numbers of type " + data.type + ", not floating point" + fix);
            }
            if (data.length != elements) {
                throw new UserError(where + " declares " + data.length + " numbers for a shape of " + elements + fix);
            }
            if (data.length != expected) {
                throw new UserError(where + " declares " + data.length + " numbers but " + ModelZip.CONFIGURATION + " implies "
                        + expected + fix);
            }
            long need = Math.multiplyExact(data.length, (long) data.type.width());
            long got = count(in, need);
            if (got < need) {
                throw new UserError(where + " is truncated: it declares " + need + " bytes of numbers and holds " + got + fix);
            }
        } catch (EOFException | UTFDataFormatException truncated) {
            throw new UserError(where + " ends inside its header" + fix);
        }
    }

    /** Reads up to {@code need} bytes and returns how many there were, without keeping them. */
    private static long count(InputStream in, long need) throws IOException {
        byte[] buf = new byte[1 << 16];
        long got = 0;
        while (got < need) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, need - got));
            if (n < 0) {
                break;
            }
            got += n;
        }
        return got;
    }

    private record Header(DataBuffer.AllocationMode mode, long length, DataType type) {
    }

    /** One buffer header, parsed as {@code BaseDataBuffer.readHeader} does (unknown names refused, not thrown). */
    private static Header header(DataInputStream in, String where, String fix) throws IOException {
        DataBuffer.AllocationMode mode;
        String modeName = in.readUTF();
        try {
            mode = DataBuffer.AllocationMode.valueOf(modeName);
        } catch (IllegalArgumentException e) {
            throw new UserError(where + " has an unknown allocation mode '" + printable(modeName) + "'" + fix);
        }
        long length = mode.ordinal() < 3 ? in.readInt() : in.readLong();
        if (length < 0) {
            throw new UserError(where + " declares a negative length " + length + fix);
        }
        String typeName = in.readUTF();
        DataType type;
        try {
            type = DataType.valueOf(typeName);
        } catch (IllegalArgumentException e) {
            throw new UserError(where + " has an unknown data type '" + printable(typeName) + "'" + fix);
        }
        return new Header(mode, length, type);
    }

    private static String printable(String s) {
        String one = s.replaceAll("\\p{Cntrl}", "?");
        return one.length() > 40 ? one.substring(0, 40) + "…" : one;
    }
}
