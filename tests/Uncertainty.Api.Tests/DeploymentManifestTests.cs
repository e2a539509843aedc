using YamlDotNet.RepresentationModel;

namespace Uncertainty.Api.Tests;

/// <summary>The Kubernetes manifests and the compose file parse and say what the deployment needs.</summary>
public sealed class DeploymentManifestTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Uncertainty.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Uncertainty.sln not found above the test binaries.");
    }

    private static List<YamlMappingNode> Documents(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return [.. stream.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    private static List<YamlMappingNode> Manifests() =>
        [.. Directory.GetFiles(Path.Combine(Root, "deploy", "k8s"), "*.yaml").Where(f => !f.EndsWith("kustomization.yaml", StringComparison.Ordinal)).SelectMany(Documents)];

    private static YamlNode At(YamlNode node, params string[] path) =>
        path.Aggregate(node, (current, key) => ((YamlMappingNode)current).Children[new YamlScalarNode(key)]);

    private static string Text(YamlNode node, params string[] path) => ((YamlScalarNode)At(node, path)).Value!;

    [Fact]
    public void Every_manifest_parses_with_a_kind_an_api_version_and_a_name_and_kustomize_lists_them_all()
    {
        var files = Directory.GetFiles(Path.Combine(Root, "deploy", "k8s"), "*.yaml").Select(Path.GetFileName).ToHashSet();
        var kustomization = Documents(Path.Combine(Root, "deploy", "k8s", "kustomization.yaml"))[0];
        var listed = ((YamlSequenceNode)At(kustomization, "resources")).Select(n => ((YamlScalarNode)n).Value).ToHashSet();

        Assert.All(Manifests(), m =>
        {
            Assert.False(string.IsNullOrEmpty(Text(m, "apiVersion")));
            Assert.False(string.IsNullOrEmpty(Text(m, "metadata", "name")));
        });
        Assert.Equal(files.Where(f => f != "kustomization.yaml").Order(), listed.Order());
        var kinds = Manifests().Select(m => Text(m, "kind")).ToHashSet();
        Assert.Superset(new HashSet<string> { "Deployment", "Service", "PersistentVolumeClaim", "ConfigMap", "Secret", "HorizontalPodAutoscaler" }, kinds);
    }

    [Fact]
    public void Deployments_probe_health_run_as_non_root_on_a_read_only_root_with_resources()
    {
        var deployments = Manifests().Where(m => Text(m, "kind") == "Deployment").ToList();
        Assert.Equal(2, deployments.Count); // inference replicas and the one writer

        foreach (var deployment in deployments)
        {
            var pod = At(deployment, "spec", "template", "spec");
            Assert.Equal("true", Text(pod, "securityContext", "runAsNonRoot"));
            Assert.Equal("1654", Text(pod, "securityContext", "runAsUser"));
            var container = (YamlMappingNode)((YamlSequenceNode)At(pod, "containers"))[0];
            Assert.Equal("/health/live", Text(container, "livenessProbe", "httpGet", "path"));
            Assert.Equal("/health/ready", Text(container, "readinessProbe", "httpGet", "path"));
            Assert.Equal("true", Text(container, "securityContext", "readOnlyRootFilesystem"));
            Assert.False(string.IsNullOrEmpty(Text(container, "resources", "limits", "memory")));
            var mounts = ((YamlSequenceNode)At(container, "volumeMounts")).Select(v => Text(v, "mountPath")).ToList();
            Assert.Contains("/data", mounts);
            Assert.Contains("/tmp", mounts);
        }

        var inference = deployments.Single(d => Text(d, "metadata", "name") == "uncertainty");
        var writer = deployments.Single(d => Text(d, "metadata", "name") == "uncertainty-writer");
        Assert.Equal("1", Text(writer, "spec", "replicas"));
        Assert.Equal("Recreate", Text(writer, "spec", "strategy", "type"));
        var claim = At(inference, "spec", "template", "spec", "volumes");
        Assert.Contains(((YamlSequenceNode)claim).Cast<YamlMappingNode>(), v => v.Children.ContainsKey(new YamlScalarNode("persistentVolumeClaim")) && Text(v, "persistentVolumeClaim", "readOnly") == "true");
        var config = Manifests().Single(m => Text(m, "kind") == "ConfigMap");
        Assert.Equal("true", Text(config, "data", "Uncertainty__ReadOnlyStore")); // replicas only read; the writer overrides it
        var hpa = Manifests().Single(m => Text(m, "kind") == "HorizontalPodAutoscaler");
        Assert.Equal("uncertainty", Text(hpa, "spec", "scaleTargetRef", "name"));
    }

    [Fact]
    public void Compose_runs_the_service_read_only_with_a_volume_a_healthcheck_and_an_example_client()
    {
        var compose = Documents(Path.Combine(Root, "docker-compose.yml"))[0];
        var api = At(compose, "services", "api");

        Assert.Equal("true", Text(api, "read_only"));
        Assert.Contains("models:/data", ((YamlSequenceNode)At(api, "volumes")).Select(v => ((YamlScalarNode)v).Value));
        Assert.Contains("/health/ready", string.Join(" ", ((YamlSequenceNode)At(api, "healthcheck", "test")).Select(v => ((YamlScalarNode)v).Value)), StringComparison.Ordinal);
        Assert.Equal("unless-stopped", Text(api, "restart"));
        Assert.False(string.IsNullOrEmpty(Text(api, "deploy", "resources", "limits", "memory")));
        Assert.Contains("Uncertainty__ApiKeys__0", ((YamlMappingNode)At(api, "environment")).Children.Keys.Select(k => ((YamlScalarNode)k).Value));
        Assert.Equal("api", Text(At(compose, "services", "client", "environment"), "API_HOST"));
        Assert.Equal("monitoring", ((YamlScalarNode)((YamlSequenceNode)At(compose, "services", "prometheus", "profiles"))[0]).Value);
    }

    [Fact]
    public void The_grpc_port_is_declared_wherever_the_service_runs_and_kserve_probes_the_protocols_health()
    {
        var grpc = Uncertainty.Api.UncertaintyOptions.DefaultGrpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var deployments = Manifests().Where(m => Text(m, "kind") == "Deployment").ToList();
        var service = Manifests().Single(m => Text(m, "kind") == "Service" && Text(m, "metadata", "name") == "uncertainty");
        var compose = Documents(Path.Combine(Root, "docker-compose.yml"))[0];
        var kserve = Documents(Path.Combine(Root, "deploy", "kserve", "inferenceservice.yaml"))[0];
        var predictor = (YamlMappingNode)((YamlSequenceNode)At(kserve, "spec", "predictor", "containers"))[0];
        var environment = ((YamlSequenceNode)At(predictor, "env")).Cast<YamlMappingNode>().ToDictionary(e => Text(e, "name"), e => Text(e, "value"));
        var port = Text((YamlMappingNode)((YamlSequenceNode)At(predictor, "ports"))[0], "containerPort");

        Assert.All(deployments, d => Assert.Contains(
            ((YamlSequenceNode)At((YamlMappingNode)((YamlSequenceNode)At(d, "spec", "template", "spec", "containers"))[0], "ports")).Cast<YamlMappingNode>(),
            p => Text(p, "name") == "grpc" && Text(p, "containerPort") == grpc));
        Assert.Contains(((YamlSequenceNode)At(service, "spec", "ports")).Cast<YamlMappingNode>(), p => Text(p, "name") == "grpc" && Text(p, "targetPort") == "grpc");
        Assert.Contains(((YamlSequenceNode)At(compose, "services", "api", "ports")).Select(p => ((YamlScalarNode)p).Value), p => p!.EndsWith($":{grpc}", StringComparison.Ordinal));
        Assert.Contains($"EXPOSE 8080 {grpc}", File.ReadAllText(Path.Combine(Root, "Dockerfile")), StringComparison.Ordinal);
        Assert.Equal("InferenceService", Text(kserve, "kind"));
        Assert.Equal("/v2/health/ready", Text(predictor, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/v2/health/live", Text(predictor, "livenessProbe", "httpGet", "path"));
        Assert.Equal(environment["ASPNETCORE_HTTP_PORTS"], port);
        Assert.Equal(port, Text(predictor, "readinessProbe", "httpGet", "port"));
        Assert.Equal(grpc, environment["Uncertainty__GrpcPort"]);
    }
}
