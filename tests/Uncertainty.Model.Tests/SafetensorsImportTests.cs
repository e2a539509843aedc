using System.Text;
using TorchSharp.PyBridge;
using Uncertainty.Model.Data;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

public sealed class SafetensorsImportTests
{
    private static readonly NetworkSpec Spec = new() { Inputs = 3, Hidden = [5, 4], HiddenDropout = [0.1], Head = new HeadSpec { Outputs = 2 } };

    private static ModelDescription Description(NetworkSpec spec) => new() { Network = spec, InputScaling = Standardizer.Identity(spec.Inputs) };

    /// <summary>A trained-looking network's tensors under PyTorch nn.Sequential names (Linear at 0, 3, 6; activations and dropout between).</summary>
    private static (MemoryStream File, Dictionary<string, float[]> Values) SequentialFile(NetworkSpec spec, int[] positions, Func<string, string>? rename = null)
    {
        using var source = Trainer.CreateNetwork(spec, seed: 9);
        var ours = source.state_dict().Where(p => p.Key.EndsWith(".weight", StringComparison.Ordinal) || p.Key.EndsWith(".bias", StringComparison.Ordinal)).ToList();
        var tensors = new Dictionary<string, Tensor>();
        var values = new Dictionary<string, float[]>();
        for (int i = 0; i < ours.Count; i++)
        {
            var layer = positions[i / 2];
            var name = rename?.Invoke(ours[i].Key) ?? $"net.{layer}.{(ours[i].Key.EndsWith(".weight", StringComparison.Ordinal) ? "weight" : "bias")}";
            tensors[name] = ours[i].Value.detach().clone().to_type(ScalarType.Float64); // PyTorch users save doubles too
            values[ours[i].Key] = ours[i].Value.data<float>().ToArray();
        }

        var file = new MemoryStream();
        Safetensors.SaveStateDict(file, tensors, leaveOpen: true);
        file.Position = 0;
        return (file, values);
    }

    [Fact]
    public void Sequential_names_are_matched_by_order_and_every_value_arrives()
    {
        var (file, expected) = SequentialFile(Spec, [0, 3, 10]); // 10 after 3: numeric, not text, order

        using var package = SafetensorsImport.Import(file, Description(Spec));

        foreach (var (name, tensor) in package.Network.state_dict())
        {
            Assert.Equal(expected[name], tensor.data<float>().ToArray());
        }
    }

    [Fact]
    public void Our_own_names_are_matched_by_name()
    {
        var (file, expected) = SequentialFile(Spec, [0, 0, 0], rename: name => name);

        using var package = SafetensorsImport.Import(file, Description(Spec));

        Assert.Equal(expected["layers.0.weight"], package.Network.state_dict()["layers.0.weight"].data<float>().ToArray());
    }

    [Fact]
    public void A_shape_that_does_not_fit_the_spec_is_refused_naming_the_tensor()
    {
        var (file, _) = SequentialFile(Spec, [0, 3, 6]);
        var wider = Spec with { Hidden = [6, 4] };

        var error = Assert.Throws<InvalidDataException>(() => SafetensorsImport.Import(file, Description(wider)));

        Assert.Contains("net.0.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("[6, 3]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_layers_are_refused()
    {
        var (file, _) = SequentialFile(Spec, [0, 3, 6]);
        var deeper = Spec with { Hidden = [5, 4, 4] };

        Assert.Throws<InvalidDataException>(() => SafetensorsImport.Import(file, Description(deeper)));
    }

    [Theory]
    [InlineData(new byte[] { 0x80, 0x04, 0x95, 0x00 }, "weights.bin")] // pickle protocol 4
    [InlineData(new byte[] { 0x50, 0x4B, 0x03, 0x04 }, "model.bin")] // torch.save zip
    [InlineData(new byte[] { 0x10, 0x00, 0x00, 0x00 }, "model.pth")]
    public void Pickle_files_are_refused_with_the_reason(byte[] head, string name)
    {
        var error = Assert.Throws<InvalidDataException>(() => SafetensorsImport.RejectPickle(head, name));

        Assert.Contains("arbitrary code", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bytes_that_are_not_safetensors_are_refused()
    {
        using var garbage = new MemoryStream([.. BitConverter.GetBytes(12L), .. "not json at all"u8.ToArray()]);

        Assert.Throws<InvalidDataException>(() => SafetensorsImport.Import(garbage, Description(Spec)));
    }

    /// <summary>A file of the given header length field and bytes after it.</summary>
    private static MemoryStream Crafted(ulong headerLength, byte[] rest) => new([.. BitConverter.GetBytes(headerLength), .. rest]);

    public static TheoryData<ulong, string, string> BadHeaders() => new()
    {
        { int.MaxValue, "{}", "claims 2147483647 bytes, but only 2 follow" },
        { 1_000_000_000, "{\"a\": 1}", "claims 1000000000 bytes, but only 8 follow" },
        { 40, "{\"too\": \"short\"}", "claims 40 bytes, but only 16 follow" },
        { 0, "{}", "header length is 0" },
        { 15, "not json at all", "not JSON" },
        { 6, "[1, 2]", "a JSON array, not an object" },
        { 8, "\"text\"  ", "a JSON string, not an object" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Implausible_headers_are_refused_before_anything_is_allocated(ulong headerLength, string rest, string message)
    {
        using var warmUp = Crafted(headerLength, Encoding.UTF8.GetBytes(rest));
        Assert.Throws<InvalidDataException>(() => SafetensorsImport.Import(warmUp, Description(Spec)));
        using var file = Crafted(headerLength, Encoding.UTF8.GetBytes(rest));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => SafetensorsImport.Import(file, Description(Spec)));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.True(allocated < (2 << 20), $"refusing took {allocated} bytes");
    }

    [Fact]
    public void A_header_over_the_cap_is_refused_even_when_the_file_is_that_long()
    {
        using var file = Crafted(SafetensorsImport.MaxHeaderBytes + 1UL, new byte[SafetensorsImport.MaxHeaderBytes + 1]);

        var error = Assert.Throws<InvalidDataException>(() => SafetensorsImport.Import(file, Description(Spec)));

        Assert.Contains($"claims {SafetensorsImport.MaxHeaderBytes + 1} bytes; at most {SafetensorsImport.MaxHeaderBytes} are accepted", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [1000000, 1000000], \"data_offsets\": [0, 4]}}", "needs 4000000000000 bytes; its data_offsets hold 4")]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 1000000000]}}", "outside the 4 data bytes")]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", "non-negative integers, not -1")]
    [InlineData("{\"w\": {\"dtype\": \"C64\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "dtype C64")]
    [InlineData("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", "needs dtype, shape and data_offsets")]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 4]}}", "more than 2^63")]
    public void Tensor_entries_must_lie_in_the_file_and_fit_their_shape(string header, string message)
    {
        var json = Encoding.UTF8.GetBytes(header);
        using var file = Crafted((ulong)json.Length, [.. json, 0, 0, 0, 0]);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => SafetensorsImport.Import(file, Description(Spec)));

        Assert.Contains("'w'", error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < (2 << 20));
    }

    [Theory]
    [InlineData("layers.0.weight", float.NaN)]
    [InlineData("layers.2.bias", float.PositiveInfinity)]
    public void Weights_that_are_not_finite_are_refused_naming_the_tensor(string poisoned, float value)
    {
        using var source = Trainer.CreateNetwork(Spec, seed: 9);
        var tensors = source.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
        tensors[poisoned].view(-1)[1] = tensor(value);
        using var file = new MemoryStream();
        Safetensors.SaveStateDict(file, tensors, leaveOpen: true);
        file.Position = 0;

        var error = Assert.Throws<InvalidDataException>(() => SafetensorsImport.Import(file, Description(Spec)));

        Assert.Contains($"'{poisoned}' holds 1 value(s) that are NaN or infinite", error.Message, StringComparison.Ordinal);
    }
}
