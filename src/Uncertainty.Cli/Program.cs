return Uncertainty.Cli.CliApp.Build().Parse(args).Invoke();
