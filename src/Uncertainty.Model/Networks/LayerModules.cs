using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Uncertainty.Model.Networks;

/// <summary>
/// The factory from a resolved layer to its TorchSharp module: the only place that knows which module a layer type is.
/// Dropout layers have no module (<see cref="DropoutNetwork"/> applies their masks itself).
/// </summary>
public static class LayerModules
{
    public static Module<Tensor, Tensor> Create(LayerShape layer)
    {
        var spec = layer.Layer;
        var input = layer.Input;
        return spec.Type switch
        {
            LayerType.Linear => Linear(input[^1], spec.Out!.Value),
            LayerType.Conv2d => Conv2d(input[0], spec.Out!.Value, spec.Kernel!.Value, stride: spec.Stride ?? 1, padding: spec.Padding ?? 0),
            LayerType.MaxPool2d => MaxPool2d(spec.Kernel!.Value, spec.Stride ?? spec.Kernel!.Value, spec.Padding ?? 0),
            LayerType.AvgPool2d => AvgPool2d(spec.Kernel!.Value, spec.Stride ?? spec.Kernel!.Value, spec.Padding ?? 0),
            LayerType.AdaptiveAvgPool2d => AdaptiveAvgPool2d([spec.Size!.Value, spec.Size!.Value]),
            LayerType.Flatten => Flatten(),
            LayerType.BatchNorm1d => BatchNorm1d(input[0]),
            LayerType.BatchNorm2d => BatchNorm2d(input[0]),
            LayerType.LayerNorm => LayerNorm(input[^1]),
            LayerType.Relu => ReLU(),
            LayerType.Gelu => GELU(),
            LayerType.Tanh => Tanh(),
            LayerType.Sigmoid => Sigmoid(),
            LayerType.Elu => ELU(),
            LayerType.LeakyRelu => LeakyReLU(),
            LayerType.Identity => Identity(),
            _ => throw new ArgumentOutOfRangeException(nameof(layer), spec.Type, "dropout layers have no module; sequence layers are built by SequenceLayer.Create"),
        };
    }
}
