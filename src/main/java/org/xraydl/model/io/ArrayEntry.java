package org.xraydl.model.io;

import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
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
 * for terabytes: here the lengths are checked against the configuration first, and the entry must
 * hold all the numbers its header declares. The entry is inflated once: the header is parsed from the
 * stream's first bytes, then {@code Nd4j.read} continues on the same stream.
 */
final class ArrayEntry {
    /** ND4J's maximum rank; a shape information buffer holds 2 * rank + 4 numbers. */
    static final int MAX_RANK = 32;

    private ArrayEntry() {
    }

    /**
     * The array in entry {@code e}, read in one pass over the inflated stream: its header is checked first
     * ({@link #checkHeader}: an ND4J array of a floating type with exactly {@code expected} numbers, nothing
     * allocated yet), then a zip whose own size for the entry cannot hold those numbers is refused, then
     * {@code Nd4j.read} reads the header again from the bytes kept and the numbers from the same stream.
     * A short entry whose zip size lies is refused when its numbers run out, after the array (of the size
     * the configuration implies, which {@code ModelZip} has checked against ND4J's limit) was allocated.
     * Null for an empty entry of a network without parameters.
     *
     * @throws UserError one line naming the file, for any of these refusals
     */
    static INDArray read(ZipFile zip, ZipEntry e, long expected) throws IOException {
        if (expected == 0 && e.getSize() == 0) {
            return null; // a network without parameters: ModelZip restores it without an array
        }
        return read(zip, e, new long[]{expected}, String.valueOf(expected));
    }

    /**
     * As {@link #read(ZipFile, ZipEntry, long)}, for an entry that may hold any one of the {@code accepted} counts of
     * numbers; {@code implied} says what they are in the refusal of any other count ("configuration.json implies ...").
     */
    static INDArray read(ZipFile zip, ZipEntry e, long[] accepted, String implied) throws IOException {
        try (InputStream in = zip.getInputStream(e)) {
            return read(in, "model zip " + zip.getName() + ": " + e.getName(), accepted, implied, e.getSize());
        }
    }

    /** {@link #read(ZipFile, ZipEntry, long)} on a stream; {@code declaredSize} is the zip's size for it, -1 if unknown. */
    static INDArray read(InputStream raw, String where, long expected, long declaredSize) throws IOException {
        return read(raw, where, new long[]{expected}, String.valueOf(expected), declaredSize);
    }

    private static INDArray read(InputStream raw, String where, long[] accepted, String implied, long declaredSize) throws IOException {
        String fix = ": refused (the file is damaged or was edited); retrain, or pass another file";
        Recording rec = new Recording(new BufferedInputStream(raw, 1 << 16));
        long need;
        try {
            need = checkHeader(new DataInputStream(rec), where, fix, accepted, implied);
        } catch (EOFException | UTFDataFormatException truncated) {
            throw new UserError(where + " ends inside its header" + fix);
        }
        byte[] header = rec.stop();
        if (declaredSize >= 0 && declaredSize - header.length < need) {
            throw truncated(where, fix, need, Math.max(0, declaredSize - header.length));
        }
        INDArray array;
        try {
            array = Nd4j.read(new DataInputStream(new SequenceInputStream(new ByteArrayInputStream(header), rec)));
        } catch (RuntimeException ex) { // ND4J wraps the stream's EOFException
            if (rec.counted < need) {
                throw truncated(where, fix, need, rec.counted);
            }
            throw ex;
        }
        if (rec.counted < need) { // in case ND4J stopped quietly at the end of the stream
            throw truncated(where, fix, need, rec.counted);
        }
        return array;
    }

    private static UserError truncated(String where, String fix, long need, long got) {
        return new UserError(where + " is truncated: it declares " + need + " bytes of numbers and holds " + got + fix);
    }

    /**
     * Reads and checks the two buffer headers and the shape numbers between them (see the class comment);
     * returns the number of bytes of numbers that must follow.
     */
    private static long checkHeader(DataInputStream in, String where, String fix, long[] accepted, String implied) throws IOException {
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
        boolean ok = false;
        for (long a : accepted) {
            ok |= data.length == a;
        }
        if (!ok) {
            throw new UserError(where + " declares " + data.length + " numbers but " + ModelZip.CONFIGURATION + " implies "
                    + implied + fix);
        }
        return Math.multiplyExact(data.length, (long) data.type.width());
    }

    /**
     * Keeps the bytes read through it until {@link #stop}, then counts the ones read after: the header is
     * parsed once here and handed to {@code Nd4j.read} from memory, the numbers stream through once.
     */
    private static final class Recording extends FilterInputStream {
        private ByteArrayOutputStream kept = new ByteArrayOutputStream();
        long counted;

        Recording(InputStream in) {
            super(in);
        }

        byte[] stop() {
            byte[] b = kept.toByteArray();
            kept = null;
            return b;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                if (kept != null) {
                    kept.write(b);
                } else {
                    counted++;
                }
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                if (kept != null) {
                    kept.write(b, off, n);
                } else {
                    counted += n;
                }
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long s = in.skip(n);
            if (kept != null) {
                throw new IOException("skip inside an array header");
            }
            counted += s;
            return s;
        }

        @Override
        public boolean markSupported() {
            return false;
        }
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
