using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Uncertainty.Clients;

/// <summary>
/// A small regression MLP (2 inputs, one hidden layer of 3, 1 output) and its weights as a safetensors file, the
/// format safetensors.torch.save_file writes: an 8-byte little-endian header length, a JSON header, raw F32 data.
/// </summary>
public static class TinyNetwork
{
    public const int Inputs = 2;

    public const int Hidden = 3;

    /// <summary>The weights, named as the MLP shorthand's layers ("layers.{i}.weight" / "layers.{i}.bias").</summary>
    public static byte[] Safetensors()
    {
        (string Name, int[] Shape)[] tensors = [("layers.0.weight", [Hidden, Inputs]), ("layers.0.bias", [Hidden]), ("layers.1.weight", [1, Hidden]), ("layers.1.bias", [1])];
        var header = new Dictionary<string, object>();
        var data = new List<byte>();
        foreach (var (name, shape) in tensors)
        {
            var count = shape.Aggregate(1, (a, b) => a * b);
            header[name] = new { dtype = "F32", shape, data_offsets = new[] { data.Count, data.Count + (4 * count) } };
            for (int i = 0; i < count; i++)
            {
                var value = new byte[4];
                BinaryPrimitives.WriteSingleLittleEndian(value, 0.1f * (i + 1));
                data.AddRange(value);
            }
        }

        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        var file = new byte[8 + json.Length + data.Count];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        data.CopyTo(file, 8 + json.Length);
        return file;
    }
}

/// <summary>The checks each client program makes; a failed one ends the program with a non-zero status.</summary>
public static class Checks
{
    /// <summary>Polls a training job once a second while <paramref name="running"/> says it is queued or running (at most 10 minutes).</summary>
    public static async Task<T> UntilFinishedAsync<T>(T job, Func<T, bool> running, Func<T, Task<T>> poll)
    {
        for (var polls = 0; running(job); polls++)
        {
            That(polls < 600, "the training job finishes within 10 minutes");
            await Task.Delay(TimeSpan.FromSeconds(1));
            job = await poll(job);
        }

        return job;
    }

    /// <summary>Throws unless <paramref name="condition"/> holds: a failed check ends the program with a non-zero status.</summary>
    public static void That(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"check failed: {what}");
        }
    }
}
