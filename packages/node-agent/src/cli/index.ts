/** cli: the `weft` command line (main.ts is the executable): the command catalog, each command's module, and their output. */
export { CATALOG, type CatalogEntry, type CommandModule, loadAll, loadModule } from "./catalog.js";
