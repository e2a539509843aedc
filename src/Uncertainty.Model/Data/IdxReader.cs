using System.Buffers.Binary;
using System.IO.Compression;

namespace Uncertainty.Model.Data;

/// <summary>Unsigned-byte images from an IDX file: <see cref="Count"/> images of <see cref="Height"/> x <see cref="Width"/> pixels, row-major.</summary>
public sealed record IdxImages(int Count, int Height, int Width, byte[] Pixels);

/// <summary>
/// Reads LeCun's IDX format (the MNIST layout): a big-endian header, magic 0x00000803 for unsigned-byte images
/// [count, rows, columns] or 0x00000801 for unsigned-byte labels [count], then the bytes. A gzip-compressed file
/// (first bytes 1F 8B) is decompressed on the fly. The header is checked against limits before anything is
/// allocated, and the data must have exactly the length the header states.
/// </summary>
public static class IdxReader
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;

    /// <summary>Largest image side accepted.</summary>
    public const int MaxSide = 4096;

    /// <summary>Largest item count accepted.</summary>
    public const int MaxItems = 10_000_000;

    /// <summary>Largest total of image bytes accepted (1 GiB).</summary>
    public const long MaxBytes = 1L << 30;

    public static IdxImages ReadImages(string path)
    {
        using var stream = Open(path);
        return ReadImages(stream, path);
    }

    public static byte[] ReadLabels(string path)
    {
        using var stream = Open(path);
        return ReadLabels(stream, path);
    }

    /// <summary>Reads images from a stream (raw or gzip); <paramref name="source"/> names it in errors.</summary>
    public static IdxImages ReadImages(Stream stream, string source) => Read(stream, data =>
    {
        int[] dims = ReadHeader(data, source, ImagesMagic, "image", dimensions: 3);
        int count = dims[0], height = dims[1], width = dims[2];
        if (height is < 1 or > MaxSide || width is < 1 or > MaxSide)
        {
            throw new InvalidDataException($"{source}: images of {height} x {width} pixels; each side must be 1 to {MaxSide}.");
        }

        long bytes = (long)count * height * width;
        if (bytes > MaxBytes)
        {
            throw new InvalidDataException($"{source}: {count} images of {height} x {width} pixels are {bytes} bytes; at most {MaxBytes} are accepted.");
        }

        return new IdxImages(count, height, width, ReadBody(data, bytes, source, $"{count} images of {height} x {width} pixels"));
    });

    /// <summary>Reads labels from a stream (raw or gzip); <paramref name="source"/> names it in errors.</summary>
    public static byte[] ReadLabels(Stream stream, string source) => Read(stream, data =>
    {
        int count = ReadHeader(data, source, LabelsMagic, "label", dimensions: 1)[0];
        return ReadBody(data, count, source, $"{count} labels");
    });

    /// <summary>A readable stream of the file's IDX bytes: decompressed when the file starts with the gzip magic.</summary>
    public static Stream Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"IDX file '{path}' does not exist.", path);
        }

        return Decompressed(File.OpenRead(path), leaveOpen: false);
    }

    /// <summary>True when the stream starts with the gzip magic 1F 8B; a seekable stream is left where it was.</summary>
    public static bool IsGzip(Stream stream)
    {
        if (!stream.CanSeek)
        {
            throw new ArgumentException("Detecting gzip needs a seekable stream.", nameof(stream));
        }

        long start = stream.Position;
        Span<byte> magic = stackalloc byte[2];
        int read = stream.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        stream.Position = start;
        return read == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
    }

    private static Stream Decompressed(Stream stream, bool leaveOpen) =>
        stream is GZipStream || !stream.CanSeek || !IsGzip(stream) ? stream : new GZipStream(stream, CompressionMode.Decompress, leaveOpen);

    /// <summary>Runs <paramref name="read"/> on the decompressed bytes; the caller's stream stays open.</summary>
    private static T Read<T>(Stream stream, Func<Stream, T> read)
    {
        var data = Decompressed(stream, leaveOpen: true);
        try
        {
            return read(data);
        }
        finally
        {
            if (!ReferenceEquals(data, stream))
            {
                data.Dispose();
            }
        }
    }

    private static int[] ReadHeader(Stream data, string source, int magic, string kind, int dimensions)
    {
        Span<byte> header = stackalloc byte[4 * (1 + dimensions)];
        int read = ReadFully(data, header[..4], source);
        int found = BinaryPrimitives.ReadInt32BigEndian(header);
        if (read == 4 && found != magic)
        {
            var hint = found == (magic == ImagesMagic ? LabelsMagic : ImagesMagic) ? $" (it is an IDX {(kind == "image" ? "label" : "image")} file)" : "";
            throw new InvalidDataException($"{source}: magic number 0x{found:X8} is not the IDX unsigned-byte {kind} magic 0x{magic:X8}{hint}.");
        }

        if (read < 4 || ReadFully(data, header[4..], source) < header.Length - 4)
        {
            throw new InvalidDataException($"{source}: truncated: shorter than the {header.Length}-byte IDX {kind} header.");
        }

        var dims = new int[dimensions];
        for (int d = 0; d < dimensions; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(header[(4 * (d + 1))..]);
        }

        if (dims[0] is < 0 or > MaxItems)
        {
            throw new InvalidDataException($"{source}: the header states {dims[0]} {kind}s; 0 to {MaxItems} are accepted.");
        }

        return dims;
    }

    /// <summary>Reads exactly <paramref name="length"/> bytes and checks that nothing follows; grows its buffer as data arrives, so a header that overstates the length costs no more memory than the data present.</summary>
    private static byte[] ReadBody(Stream data, long length, string source, string stated)
    {
        if (data.CanSeek && data.Length - data.Position < length)
        {
            throw new InvalidDataException($"{source}: truncated: the header states {stated} ({length} bytes), the file holds {data.Length - data.Position}.");
        }

        var buffer = new byte[Math.Min(length, 1 << 20)];
        long filled = 0;
        while (filled < length)
        {
            if (filled == buffer.Length)
            {
                Array.Resize(ref buffer, (int)Math.Min(length, 2L * buffer.Length));
            }

            int read = ReadFully(data, buffer.AsSpan((int)filled), source);
            filled += read;
            if (read == 0)
            {
                throw new InvalidDataException($"{source}: truncated: the header states {stated} ({length} bytes), the file holds {filled}.");
            }
        }

        if (ReadFully(data, stackalloc byte[1], source) != 0)
        {
            throw new InvalidDataException($"{source}: more data than the header's {stated} ({length} bytes).");
        }

        return buffer;
    }

    private static int ReadFully(Stream data, Span<byte> buffer, string source)
    {
        try
        {
            return data.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{source}: damaged gzip data: {e.Message}", e);
        }
    }
}
