global using Engine.Nn;
