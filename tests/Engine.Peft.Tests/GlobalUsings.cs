global using Engine.Nn;
global using Engine.Autograd;
