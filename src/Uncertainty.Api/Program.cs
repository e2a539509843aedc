using Uncertainty.Api;
using Uncertainty.Model.Native;

// Image builds run this once, as root, in the runtime stage: it loads the natives on the image's own libstdc++
// (applying the compatibility step there if that libstdc++ needs it), so a read-only container never has to.
if (args is ["--prepare-natives"])
{
    using var loggers = LoggerFactory.Create(logging => logging.AddSimpleConsole());
    var info = TorchBackend.Initialize(Environment.GetEnvironmentVariable("Uncertainty__LibTorchDirectory"), loggers.CreateLogger("Uncertainty.Natives"));
    var step = info.Compatibility is { Patched: true } patched ? $"marked {string.Join(", ", patched.Missing)} weak" : "not needed";
    Console.WriteLine($"natives ready: {info.LibTorchSource}; CUDA available: {info.CudaAvailable}; libstdc++ step: {step}");
    return;
}

var builder = WebApplication.CreateBuilder(args);
builder.AddUncertaintyApi();

var app = builder.Build();
app.MapUncertaintyApi();
app.Run();

/// <summary>Entry point; public for WebApplicationFactory in the tests.</summary>
public partial class Program;
