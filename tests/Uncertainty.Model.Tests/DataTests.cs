using Uncertainty.Model.Data;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;

namespace Uncertainty.Model.Tests;

public class DataTests
{
    private static Dataset Csv(string text, CsvOptions options) => CsvLoader.Load(new StringReader(text), "test.csv", options);

    [Theory]
    [InlineData("boston", 506, 13, "medv", TaskKind.Regression)]
    [InlineData("concrete", 1030, 8, "compressive_strength", TaskKind.Regression)]
    [InlineData("breast_cancer", 569, 30, "diagnosis", TaskKind.Classification)]
    [InlineData("digits", 1797, 64, "digit", TaskKind.Classification)]
    public void Bundled_datasets_load_with_their_shape_and_task(string name, int rows, int columns, string target, TaskKind task)
    {
        var data = BundledDatasets.Load(name);

        Assert.Equal((rows, columns, target, task), (data.Rows, data.Columns, data.TargetName, data.Task));
    }

    [Fact]
    public void Class_labels_are_sorted_and_numeric_labels_sort_numerically()
    {
        Assert.Equal(["benign", "malignant"], BundledDatasets.Load("breast_cancer").ClassLabels);
        Assert.Equal([.. Enumerable.Range(0, 10).Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture))], BundledDatasets.Load("digits").ClassLabels);
    }

    [Fact]
    public void Target_by_name_or_index_and_chosen_features()
    {
        const string text = "a,b,c,y\n1,2,3,4\n5,6,7,8\n";

        var byName = Csv(text, new CsvOptions { Target = "y" });
        var byIndex = Csv(text, new CsvOptions { Target = "0", Features = ["c", "1"] });

        Assert.Equal(["a", "b", "c"], byName.FeatureNames);
        Assert.Equal([4f, 8f], byName.Targets);
        Assert.Equal([3f, 2f, 7f, 6f], byIndex.Features);
        Assert.Equal([1f, 5f], byIndex.Targets);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_header_wider_than_max_columns_is_refused_before_rows_are_read(bool whitespace)
    {
        char separator = whitespace ? ' ' : ',';
        var header = string.Join(separator, Enumerable.Range(0, 5000).Select(c => whitespace ? "1" : $"c{c}"));
        var text = header + "\nnot,a,row,of,numbers\n"; // a row that would fail to parse if it were read

        var error = Assert.Throws<InvalidDataException>(() => Csv(text, new CsvOptions { Whitespace = whitespace }));

        Assert.Contains("5000 columns", error.Message, StringComparison.Ordinal);
        Assert.Contains("at most 4096", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Max_columns_is_configurable()
    {
        const string text = "a,b,c,y\n1,2,3,4\n";

        Assert.Equal(3, Csv(text, new CsvOptions { MaxColumns = 4 }).Columns);
        var error = Assert.Throws<InvalidDataException>(() => Csv(text, new CsvOptions { MaxColumns = 3 }));
        Assert.Contains("the header has 4 columns; at most 3 are accepted", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Whitespace_files_without_a_header_read_by_position()
    {
        var data = Csv("  1.5 2   3\n4\t5 6\n", new CsvOptions { Whitespace = true });

        Assert.Equal(["x0", "x1"], data.FeatureNames);
        Assert.Equal([1.5f, 2, 4, 5], data.Features);
        Assert.Equal([3f, 6f], data.Targets);
    }

    [Theory]
    [InlineData("a,y\n1,2\nx,3\n", "line 3, column 'a': 'x' is not a number")]
    [InlineData("a,y\n1,2\n,3\n", "line 3, column 'a': missing value")]
    [InlineData("a,y\n1,2\n2,NA\n", "line 3, target 'y': missing value")]
    [InlineData("a,y\n1,2\n2,3,4\n", "line 3 has 3 cells")]
    public void Bad_cells_are_reported_with_line_and_column(string text, string message)
    {
        var error = Assert.Throws<InvalidDataException>(() => Csv(text, new CsvOptions { Target = "y" }));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_target_lists_the_columns()
    {
        var error = Assert.Throws<InvalidDataException>(() => Csv("a,b\n1,2\n", new CsvOptions { Target = "price" }));

        Assert.Contains("unknown target column 'price'", error.Message, StringComparison.Ordinal);
        Assert.Contains("a, b", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Regression_requested_on_text_labels_is_refused()
    {
        var error = Assert.Throws<InvalidDataException>(() => Csv("a,y\n1,cat\n", new CsvOptions { Target = "y", Task = TaskKind.Regression }));

        Assert.Contains("'cat' is not a number", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_splits_are_seeded_disjoint_and_complete()
    {
        var first = Splits.Random(50, 0.1, seed: 3);
        var again = Splits.Random(50, 0.1, seed: 3);
        var other = Splits.Random(50, 0.1, seed: 4);

        Assert.Equal(first.Test, again.Test);
        Assert.NotEqual(first.Test, other.Test);
        Assert.Equal(5, first.Test.Length);
        Assert.Empty(first.Train.Intersect(first.Test));
        Assert.Equal(Enumerable.Range(0, 50), first.Train.Concat(first.Test).Order());
    }

    [Fact]
    public void Splits_are_read_from_index_files()
    {
        var directory = Directory.CreateTempSubdirectory("splits").FullName;
        File.WriteAllLines(Path.Combine(directory, "index_train_0.txt"), ["0", "1", "2"]);
        File.WriteAllLines(Path.Combine(directory, "index_test_0.txt"), ["3"]);
        File.WriteAllLines(Path.Combine(directory, "index_train_1.txt"), ["1", "2", "3"]);
        File.WriteAllLines(Path.Combine(directory, "index_test_1.txt"), ["0", ""]);

        var splits = Splits.FromDirectory(directory, rows: 4);

        Assert.Equal(2, splits.Count);
        Assert.Equal([0], splits[1].Test);
        File.WriteAllLines(Path.Combine(directory, "index_test_1.txt"), ["9"]);
        Assert.Contains("not a row index", Assert.Throws<InvalidDataException>(() => Splits.FromDirectory(directory, rows: 4)).Message, StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void Pipeline_fits_standardisation_on_the_training_rows_only()
    {
        var data = BundledDatasets.Load("boston");
        var train = data.Subset([.. Enumerable.Range(0, 100)]);

        using var package = TrainingPipeline.Fit(train, new NetworkSpec { Inputs = 1, Hidden = [8] }, new TrainingOptions { Epochs = 1 });

        var expected = Standardizer.Fit(train.Features, train.Columns);
        Assert.Equal(expected.Mean, package.Description.InputScaling.Mean);
        Assert.Equal(train.Targets.Average(t => (double)t), package.Description.TargetScaling!.Mean[0], 4);
        Assert.Equal(13, package.Description.Network.Inputs);
        Assert.Equal(["medv"], package.Description.OutputNames);
    }

    [Fact]
    public void A_regression_head_is_refused_for_class_labels() =>
        Assert.Throws<ArgumentException>(() => TrainingPipeline.Fitted(new NetworkSpec { Inputs = 1 }, BundledDatasets.Load("breast_cancer")));
}
