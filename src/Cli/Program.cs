using Engine.Cli;

return EngineCommand.Run(args);
