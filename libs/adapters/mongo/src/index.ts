export { MongoStore } from './store';
export { MongoFragmentRepository } from './repositories';
