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
}
